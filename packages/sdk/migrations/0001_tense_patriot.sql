CREATE TABLE "instances" (
	"id" text PRIMARY KEY NOT NULL,
	"host" text NOT NULL,
	"pid" integer NOT NULL,
	"concurrency" integer NOT NULL,
	"load" integer DEFAULT 0 NOT NULL,
	"status" text NOT NULL,
	"started_at" timestamp with time zone NOT NULL,
	"heartbeat_at" timestamp with time zone NOT NULL,
	"stopped_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "runs" ADD COLUMN "wake_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "runs" ADD COLUMN "lease_owner" text;--> statement-breakpoint
ALTER TABLE "runs" ADD COLUMN "lease_token" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "runs" ADD COLUMN "lease_expires_at" timestamp with time zone;--> statement-breakpoint
CREATE INDEX "instances_alive_heartbeat_idx" ON "instances" USING btree ("heartbeat_at") WHERE "instances"."status" = 'alive';--> statement-breakpoint
CREATE INDEX "runs_lease_expiry_idx" ON "runs" USING btree ("lease_expires_at") WHERE "runs"."status" = 'running' and "runs"."lease_owner" is not null;--> statement-breakpoint
CREATE INDEX "runs_wake_idx" ON "runs" USING btree ("wake_at") WHERE "runs"."status" = 'running' and "runs"."lease_owner" is null;
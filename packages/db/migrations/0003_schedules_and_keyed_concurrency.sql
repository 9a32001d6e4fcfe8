CREATE TABLE "schedules" (
	"id" text PRIMARY KEY NOT NULL,
	"cron" text NOT NULL,
	"timezone" text NOT NULL,
	"workflow" text NOT NULL,
	"input" jsonb NOT NULL,
	"enabled" boolean DEFAULT true NOT NULL,
	"catch_up" integer DEFAULT 0 NOT NULL,
	"source" text NOT NULL,
	"next_fire_at" timestamp with time zone,
	"last_fire_at" timestamp with time zone,
	"created_at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
ALTER TABLE "runs" ADD COLUMN "concurrency_key" text;--> statement-breakpoint
ALTER TABLE "runs" ADD COLUMN "waiting_reason" text;--> statement-breakpoint
CREATE INDEX "schedules_due_idx" ON "schedules" USING btree ("next_fire_at") WHERE "schedules"."enabled";--> statement-breakpoint
CREATE INDEX "runs_concurrency_key_idx" ON "runs" USING btree ("workflow","concurrency_key") WHERE "runs"."concurrency_key" is not null and "runs"."lease_owner" is not null;
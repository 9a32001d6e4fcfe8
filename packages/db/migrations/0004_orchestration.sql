ALTER TABLE "runs" ADD COLUMN "parent_run_id" uuid;--> statement-breakpoint
ALTER TABLE "runs" ADD COLUMN "after_run_ids" uuid[];--> statement-breakpoint
ALTER TABLE "runs" ADD COLUMN "waiting" jsonb;--> statement-breakpoint
CREATE INDEX "runs_after_idx" ON "runs" USING gin ("after_run_ids") WHERE "runs"."status" = 'queued';--> statement-breakpoint
CREATE INDEX "runs_parent_idx" ON "runs" USING btree ("parent_run_id") WHERE "runs"."parent_run_id" is not null;
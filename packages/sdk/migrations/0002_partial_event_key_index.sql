DROP INDEX "run_events_run_key_key";--> statement-breakpoint
CREATE UNIQUE INDEX "run_events_run_key_key" ON "run_events" USING btree ("run_id","key") WHERE "run_events"."key" is not null;
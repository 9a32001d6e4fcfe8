CREATE TABLE "workflow_instances" (
	"workflow" text NOT NULL,
	"version" text NOT NULL,
	"instance_id" text NOT NULL,
	CONSTRAINT "workflow_instances_instance_id_workflow_pk" PRIMARY KEY("instance_id","workflow")
);
--> statement-breakpoint
CREATE TABLE "workflow_versions" (
	"workflow" text NOT NULL,
	"version" text NOT NULL,
	"input_schema" jsonb NOT NULL,
	"options" jsonb NOT NULL,
	"first_seen_at" timestamp with time zone NOT NULL,
	"last_seen_at" timestamp with time zone NOT NULL,
	CONSTRAINT "workflow_versions_workflow_version_pk" PRIMARY KEY("workflow","version")
);
--> statement-breakpoint
ALTER TABLE "workflow_instances" ADD CONSTRAINT "workflow_instances_instance_id_instances_id_fk" FOREIGN KEY ("instance_id") REFERENCES "public"."instances"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "workflow_instances_workflow_idx" ON "workflow_instances" USING btree ("workflow","version");
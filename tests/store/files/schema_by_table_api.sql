PRAGMA foreign_keys=OFF;
BEGIN TRANSACTION;
CREATE TABLE IF NOT EXISTS "_sqlite_migrations" (
   "id" INTEGER PRIMARY KEY,
   "migration_set" TEXT,
   "name" TEXT,
   "applied_at" TEXT
);
INSERT INTO _sqlite_migrations VALUES(1,'reelhook','m001_tasks_events_deliveries','2026-12-06 22:31:16.757953+00:00');
INSERT INTO _sqlite_migrations VALUES(2,'reelhook','m002_destinations_attempts_polling','2026-12-06 22:31:16.760953+00:00');
INSERT INTO _sqlite_migrations VALUES(3,'reelhook','m003_dispatcher_claims','2026-12-06 22:31:16.762748+00:00');
INSERT INTO _sqlite_migrations VALUES(4,'reelhook','m004_providers_held_submissions','2026-12-06 22:31:16.763998+00:00');
INSERT INTO _sqlite_migrations VALUES(5,'reelhook','m005_inbound_messages','2026-12-06 22:31:16.765037+00:00');
INSERT INTO _sqlite_migrations VALUES(6,'reelhook','m006_route_disabled_index','2026-12-06 22:31:16.765831+00:00');
INSERT INTO _sqlite_migrations VALUES(7,'reelhook','m007_task_claims','2026-12-06 22:31:16.766857+00:00');
INSERT INTO _sqlite_migrations VALUES(8,'reelhook','m008_kept_videos','2026-12-06 22:31:16.770204+00:00');
INSERT INTO _sqlite_migrations VALUES(9,'reelhook','m009_key_check','2026-12-06 22:31:16.771102+00:00');
INSERT INTO _sqlite_migrations VALUES(10,'reelhook','m010_ended_sessions','2026-12-06 22:31:16.771858+00:00');
INSERT INTO _sqlite_migrations VALUES(11,'reelhook','m011_registered_destinations','2026-12-06 22:31:16.774967+00:00');
INSERT INTO _sqlite_migrations VALUES(12,'reelhook','m012_in_flight_index','2026-12-06 22:31:16.775903+00:00');
INSERT INTO _sqlite_migrations VALUES(13,'reelhook','m013_task_metadata','2026-12-06 22:31:16.776710+00:00');
INSERT INTO _sqlite_migrations VALUES(14,'reelhook','m014_counts','2026-12-06 22:31:16.778828+00:00');
INSERT INTO _sqlite_migrations VALUES(15,'reelhook','m015_postgres_types','2026-12-06 22:31:16.779645+00:00');
CREATE TABLE IF NOT EXISTS "tasks" (
   "id" TEXT PRIMARY KEY,
   "provider" TEXT NOT NULL,
   "model" TEXT NOT NULL,
   "provider_task_id" TEXT,
   "status" TEXT NOT NULL DEFAULT 'queued',
   "progress" INTEGER DEFAULT 0,
   "video_url" TEXT,
   "error" TEXT,
   "cost_usd" REAL,
   "created_at" TEXT NOT NULL,
   "updated_at" TEXT NOT NULL,
   "metadata" TEXT,
   "request" TEXT,
   "idempotency_key" TEXT,
   "request_fingerprint" TEXT,
   "callback_secret_hash" TEXT
, "submit_state" TEXT NOT NULL DEFAULT 'pending', "next_poll_at" REAL, "poll_attempts" INTEGER NOT NULL DEFAULT 0, "last_event_at" REAL, "deadline_at" REAL, "held_request" TEXT, "submit_after" REAL, "claim_owner" TEXT, "claim_expires_at" REAL, "video_status" TEXT, "video_bytes" INTEGER, "video_sha256" TEXT, "video_content_type" TEXT, "video_kept_at" TEXT, "video_expires_at" REAL, "video_error" TEXT, "video_key" TEXT, "video_next_at" REAL, "video_claim_owner" TEXT, "video_claim_expires" REAL, "video_attempts" INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS "events" (
   "id" INTEGER PRIMARY KEY,
   "task_id" TEXT NOT NULL REFERENCES "tasks"("id"),
   "dedupe_key" TEXT NOT NULL,
   "source" TEXT NOT NULL,
   "provider_status" TEXT,
   "status" TEXT,
   "progress" INTEGER,
   "payload" TEXT,
   "received_at" TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS "deliveries" (
   "id" INTEGER PRIMARY KEY,
   "task_id" TEXT NOT NULL REFERENCES "tasks"("id"),
   "state" TEXT NOT NULL,
   "destination_id" INTEGER,
   "status" TEXT NOT NULL DEFAULT 'pending',
   "attempts" INTEGER DEFAULT 0,
   "next_attempt_at" REAL,
   "last_error" TEXT,
   "created_at" TEXT,
   "updated_at" TEXT
, "claimed_at" REAL, "claim_owner" TEXT, "cycle_start" INTEGER NOT NULL DEFAULT 0, "delivered_at" TEXT);
CREATE TABLE IF NOT EXISTS "destinations" (
   "id" INTEGER PRIMARY KEY,
   "task_id" TEXT,
   "channel" TEXT NOT NULL,
   "target" TEXT NOT NULL,
   "label" TEXT NOT NULL,
   "route_key" TEXT,
   "disabled_reason" TEXT
, name TEXT, on_states TEXT, provider TEXT, metadata_filter TEXT, paused INTEGER NOT NULL DEFAULT 0, managed_by TEXT, created_at TEXT, updated_at TEXT, deleted_at TEXT, disabled_at TEXT);
CREATE TABLE IF NOT EXISTS "attempts" (
   "id" INTEGER PRIMARY KEY,
   "delivery_id" INTEGER NOT NULL REFERENCES "deliveries"("id"),
   "started_at" TEXT NOT NULL,
   "duration_ms" REAL,
   "status_code" INTEGER,
   "error" TEXT,
   "outcome" TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS "inbound_messages" (
   "id" INTEGER PRIMARY KEY,
   "source" TEXT NOT NULL,
   "webhook_id" TEXT NOT NULL,
   "received_at" TEXT NOT NULL,
   "payload" TEXT
);
CREATE TABLE key_check (id INTEGER PRIMARY KEY CHECK (id = 1), sealed TEXT NOT NULL);
CREATE TABLE ended_sessions (sid TEXT PRIMARY KEY, expires_at REAL NOT NULL);
CREATE TABLE route_health (route_key TEXT PRIMARY KEY, failing_since DOUBLE PRECISION, last_failed_at DOUBLE PRECISION, troubled INTEGER NOT NULL DEFAULT 0);
CREATE TABLE alerts (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, route_key TEXT NOT NULL, label TEXT NOT NULL, reason TEXT, task_id TEXT, created_at DOUBLE PRECISION NOT NULL, status TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at DOUBLE PRECISION, claim_owner TEXT, claimed_at DOUBLE PRECISION, last_error TEXT, sent_at DOUBLE PRECISION);
CREATE TABLE task_metadata (task_id TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (task_id, key));
CREATE TABLE count_totals (kind TEXT NOT NULL, a TEXT NOT NULL, b TEXT NOT NULL, n BIGINT NOT NULL, priced BIGINT NOT NULL, micros BIGINT NOT NULL, PRIMARY KEY (kind, a, b));
CREATE TABLE count_deltas (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, a TEXT NOT NULL, b TEXT NOT NULL, n BIGINT NOT NULL, priced BIGINT NOT NULL, micros BIGINT NOT NULL);
CREATE UNIQUE INDEX "idx__sqlite_migrations_migration_set_name"
    ON "_sqlite_migrations" ("migration_set", "name");
CREATE UNIQUE INDEX "idx_tasks_idempotency_key"
    ON "tasks" ("idempotency_key");
CREATE INDEX "idx_tasks_provider_provider_task_id"
    ON "tasks" ("provider", "provider_task_id");
CREATE INDEX "idx_tasks_status_id"
    ON "tasks" ("status", "id");
CREATE INDEX "idx_tasks_provider_id"
    ON "tasks" ("provider", "id");
CREATE UNIQUE INDEX "idx_events_task_id_dedupe_key"
    ON "events" ("task_id", "dedupe_key");
CREATE INDEX "idx_deliveries_status_next_attempt_at"
    ON "deliveries" ("status", "next_attempt_at");
CREATE INDEX "idx_destinations_task_id"
    ON "destinations" ("task_id");
CREATE INDEX "idx_attempts_delivery_id"
    ON "attempts" ("delivery_id");
CREATE INDEX "idx_tasks_next_poll_at"
    ON "tasks" ("next_poll_at");
CREATE INDEX "idx_deliveries_task_id"
    ON "deliveries" ("task_id");
CREATE INDEX "idx_destinations_route_key"
    ON "destinations" ("route_key");
CREATE INDEX "idx_tasks_provider_submit_state"
    ON "tasks" ("provider", "submit_state");
CREATE UNIQUE INDEX "idx_inbound_messages_source_webhook_id"
    ON "inbound_messages" ("source", "webhook_id");
CREATE INDEX "idx_destinations_route_key_disabled_reason"
    ON "destinations" ("route_key", "disabled_reason");
CREATE INDEX "idx_tasks_video_status_video_next_at"
    ON "tasks" ("video_status", "video_next_at");
CREATE UNIQUE INDEX idx_destinations_registered_name ON destinations (name) WHERE task_id IS NULL AND deleted_at IS NULL;
CREATE UNIQUE INDEX idx_deliveries_destination_id_task_id_state ON deliveries (destination_id, task_id, state);
CREATE INDEX idx_alerts_status_next_attempt_at ON alerts (status, next_attempt_at);
CREATE INDEX idx_alerts_route_key_created_at ON alerts (route_key, created_at);
CREATE INDEX idx_tasks_in_flight ON tasks (provider, submit_state, id) WHERE status IN ('queued', 'running');
CREATE INDEX idx_task_metadata_key_value ON task_metadata (key, value);
CREATE TRIGGER count_tasks_insert AFTER INSERT ON tasks FOR EACH ROW BEGIN INSERT INTO count_deltas (kind, a, b, n, priced, micros) SELECT 'tasks', NEW.provider, NEW.status, 1, 0, 0; INSERT INTO count_deltas (kind, a, b, n, priced, micros) SELECT 'videos', NEW.video_status, '', 1, 0, 0 WHERE NEW.video_status IS NOT NULL; INSERT INTO count_deltas (kind, a, b, n, priced, micros) SELECT 'costs', NEW.provider, NEW.status, 1, (CASE WHEN NEW.cost_usd IS NULL THEN 0 ELSE 1 END), coalesce(CAST(round(NEW.cost_usd * 1000000) AS BIGINT), 0) WHERE NEW.provider_task_id IS NOT NULL; INSERT INTO count_deltas (kind, a, b, n, priced, micros) SELECT 'days', NEW.provider, substr(NEW.created_at, 1, 10), 1, (CASE WHEN NEW.cost_usd IS NULL THEN 0 ELSE 1 END), coalesce(CAST(round(NEW.cost_usd * 1000000) AS BIGINT), 0); END;
CREATE TRIGGER count_tasks_delete AFTER DELETE ON tasks FOR EACH ROW BEGIN INSERT INTO count_deltas (kind, a, b, n, priced, micros) SELECT 'tasks', OLD.provider, OLD.status, -1, 0, 0; INSERT INTO count_deltas (kind, a, b, n, priced, micros) SELECT 'videos', OLD.video_status, '', -1, 0, 0 WHERE OLD.video_status IS NOT NULL; INSERT INTO count_deltas (kind, a, b, n, priced, micros) SELECT 'costs', OLD.provider, OLD.status, -1, -(CASE WHEN OLD.cost_usd IS NULL THEN 0 ELSE 1 END), -coalesce(CAST(round(OLD.cost_usd * 1000000) AS BIGINT), 0) WHERE OLD.provider_task_id IS NOT NULL; INSERT INTO count_deltas (kind, a, b, n, priced, micros) SELECT 'days', OLD.provider, substr(OLD.created_at, 1, 10), -1, -(CASE WHEN OLD.cost_usd IS NULL THEN 0 ELSE 1 END), -coalesce(CAST(round(OLD.cost_usd * 1000000) AS BIGINT), 0); END;
CREATE TRIGGER count_tasks_update_tasks AFTER UPDATE OF provider, status ON tasks FOR EACH ROW WHEN OLD.provider IS NOT NEW.provider OR OLD.status IS NOT NEW.status BEGIN INSERT INTO count_deltas (kind, a, b, n, priced, micros) SELECT 'tasks', OLD.provider, OLD.status, -1, 0, 0; INSERT INTO count_deltas (kind, a, b, n, priced, micros) SELECT 'tasks', NEW.provider, NEW.status, 1, 0, 0; END;
CREATE TRIGGER count_tasks_update_videos AFTER UPDATE OF video_status ON tasks FOR EACH ROW WHEN OLD.video_status IS NOT NEW.video_status BEGIN INSERT INTO count_deltas (kind, a, b, n, priced, micros) SELECT 'videos', OLD.video_status, '', -1, 0, 0 WHERE OLD.video_status IS NOT NULL; INSERT INTO count_deltas (kind, a, b, n, priced, micros) SELECT 'videos', NEW.video_status, '', 1, 0, 0 WHERE NEW.video_status IS NOT NULL; END;
CREATE TRIGGER count_tasks_update_costs AFTER UPDATE OF provider, status, provider_task_id, cost_usd ON tasks FOR EACH ROW WHEN OLD.provider IS NOT NEW.provider OR OLD.status IS NOT NEW.status OR OLD.provider_task_id IS NOT NEW.provider_task_id OR OLD.cost_usd IS NOT NEW.cost_usd BEGIN INSERT INTO count_deltas (kind, a, b, n, priced, micros) SELECT 'costs', OLD.provider, OLD.status, -1, -(CASE WHEN OLD.cost_usd IS NULL THEN 0 ELSE 1 END), -coalesce(CAST(round(OLD.cost_usd * 1000000) AS BIGINT), 0) WHERE OLD.provider_task_id IS NOT NULL; INSERT INTO count_deltas (kind, a, b, n, priced, micros) SELECT 'costs', NEW.provider, NEW.status, 1, (CASE WHEN NEW.cost_usd IS NULL THEN 0 ELSE 1 END), coalesce(CAST(round(NEW.cost_usd * 1000000) AS BIGINT), 0) WHERE NEW.provider_task_id IS NOT NULL; END;
CREATE TRIGGER count_tasks_update_days AFTER UPDATE OF provider, created_at, cost_usd ON tasks FOR EACH ROW WHEN OLD.provider IS NOT NEW.provider OR OLD.created_at IS NOT NEW.created_at OR OLD.cost_usd IS NOT NEW.cost_usd BEGIN INSERT INTO count_deltas (kind, a, b, n, priced, micros) SELECT 'days', OLD.provider, substr(OLD.created_at, 1, 10), -1, -(CASE WHEN OLD.cost_usd IS NULL THEN 0 ELSE 1 END), -coalesce(CAST(round(OLD.cost_usd * 1000000) AS BIGINT), 0); INSERT INTO count_deltas (kind, a, b, n, priced, micros) SELECT 'days', NEW.provider, substr(NEW.created_at, 1, 10), 1, (CASE WHEN NEW.cost_usd IS NULL THEN 0 ELSE 1 END), coalesce(CAST(round(NEW.cost_usd * 1000000) AS BIGINT), 0); END;
CREATE TRIGGER count_deliveries_insert AFTER INSERT ON deliveries FOR EACH ROW BEGIN INSERT INTO count_deltas (kind, a, b, n, priced, micros) SELECT 'deliveries', NEW.status, '', 1, 0, 0; END;
CREATE TRIGGER count_deliveries_delete AFTER DELETE ON deliveries FOR EACH ROW BEGIN INSERT INTO count_deltas (kind, a, b, n, priced, micros) SELECT 'deliveries', OLD.status, '', -1, 0, 0; END;
CREATE TRIGGER count_deliveries_update AFTER UPDATE OF status ON deliveries FOR EACH ROW WHEN OLD.status IS NOT NEW.status BEGIN INSERT INTO count_deltas (kind, a, b, n, priced, micros) SELECT 'deliveries', OLD.status, '', -1, 0, 0; INSERT INTO count_deltas (kind, a, b, n, priced, micros) SELECT 'deliveries', NEW.status, '', 1, 0, 0; END;
CREATE TRIGGER count_attempts_insert AFTER INSERT ON attempts FOR EACH ROW BEGIN INSERT INTO count_deltas (kind, a, b, n, priced, micros) SELECT 'attempts', s.channel, NEW.outcome, 1, 0, 0 FROM deliveries d JOIN destinations s ON s.id = d.destination_id WHERE d.id = NEW.delivery_id; END;
COMMIT;

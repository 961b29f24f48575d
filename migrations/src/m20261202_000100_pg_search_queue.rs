//! PostgreSQL: the reports' search index off the write path, as SQLite's already is.
//!
//! Five `pg_trgm` GIN indexes on the report columns took about half the database's CPU during
//! a flood of distinct reports (`gininsert` 34% of the backends' samples, `ginInsertCleanup`
//! merging pending lists 24%). Now a report's insert only queues its id
//! (`report_texts_queue`, filled by a statement trigger, whatever path stores the report);
//! a task moves queued reports into `report_texts` (one searchable text per report, one GIN
//! index) while intake leaves it time (`db::search_queue`), and a search reads the newest
//! queued reports directly meanwhile. Incident titles and comments keep their own indexes:
//! a title is a fifth of a report's text and comments are rare.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
CREATE TABLE IF NOT EXISTS report_texts (
  report_id bigint PRIMARY KEY REFERENCES reports (id) ON DELETE CASCADE,
  body text NOT NULL
);
-- No foreign key: checking one per queued row would put a lookup back on the write path, and
-- the task joins the queue to the reports anyway.
CREATE TABLE IF NOT EXISTS report_texts_queue (report_id bigint PRIMARY KEY);
CREATE OR REPLACE FUNCTION report_texts_enqueue() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO report_texts_queue (report_id) SELECT id FROM new_reports;
  RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS report_texts_enqueue ON reports;
CREATE TRIGGER report_texts_enqueue AFTER INSERT ON reports
  REFERENCING NEW TABLE AS new_reports
  FOR EACH STATEMENT EXECUTE FUNCTION report_texts_enqueue();
INSERT INTO report_texts (report_id, body)
  SELECT id, concat_ws(E'\n', output, prompt, description, model, model_version) FROM reports
  ON CONFLICT (report_id) DO NOTHING;
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
    CREATE INDEX IF NOT EXISTS report_texts_trgm ON report_texts USING gin (body gin_trgm_ops);
  END IF;
END
$$;
DROP INDEX IF EXISTS reports_output_trgm;
DROP INDEX IF EXISTS reports_prompt_trgm;
DROP INDEX IF EXISTS reports_description_trgm;
DROP INDEX IF EXISTS reports_model_trgm;
DROP INDEX IF EXISTS reports_model_version_trgm;
"#;

const DOWN: &str = r#"
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
    CREATE INDEX IF NOT EXISTS reports_output_trgm ON reports USING gin (output gin_trgm_ops);
    CREATE INDEX IF NOT EXISTS reports_prompt_trgm ON reports USING gin (prompt gin_trgm_ops);
    CREATE INDEX IF NOT EXISTS reports_description_trgm ON reports USING gin (description gin_trgm_ops);
    CREATE INDEX IF NOT EXISTS reports_model_trgm ON reports USING gin (model gin_trgm_ops);
    CREATE INDEX IF NOT EXISTS reports_model_version_trgm ON reports USING gin (model_version gin_trgm_ops);
  END IF;
END
$$;
DROP TRIGGER IF EXISTS report_texts_enqueue ON reports;
DROP FUNCTION IF EXISTS report_texts_enqueue();
DROP TABLE IF EXISTS report_texts_queue;
DROP TABLE IF EXISTS report_texts;
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        if db.get_database_backend() == DbBackend::Postgres {
            db.execute_unprepared(UP).await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        if db.get_database_backend() == DbBackend::Postgres {
            db.execute_unprepared(DOWN).await?;
        }
        Ok(())
    }
}

//! PostgreSQL: incident titles indexed for search off the write path, like report texts
//! (migration 000100).
//!
//! With report texts queued, the GIN index on incident titles was the largest index cost left
//! in a flood of distinct reports (17% of the backends' time; each opens an incident with an
//! 80-character title). New titles, and titles staff change, are queued
//! (`incident_titles_queue`, newest by `seq`) and moved into `incident_titles` (one GIN index)
//! by the same task; a search reads the newest queued titles directly.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
CREATE TABLE IF NOT EXISTS incident_titles (
  incident_id bigint PRIMARY KEY REFERENCES incidents (id) ON DELETE CASCADE,
  title text NOT NULL
);
-- seq: the newest change first, so that a title edited during a flood is among the titles a
-- search reads directly, whatever the incident's age.
CREATE TABLE IF NOT EXISTS incident_titles_queue (
  incident_id bigint PRIMARY KEY,
  seq bigserial NOT NULL
);
CREATE INDEX IF NOT EXISTS incident_titles_queue_seq ON incident_titles_queue (seq);
CREATE OR REPLACE FUNCTION incident_titles_enqueue_new() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO incident_titles_queue (incident_id) SELECT id FROM new_incidents
    ON CONFLICT (incident_id) DO NOTHING;
  RETURN NULL;
END
$$;
CREATE OR REPLACE FUNCTION incident_titles_enqueue_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO incident_titles_queue (incident_id) VALUES (NEW.id)
    ON CONFLICT (incident_id) DO UPDATE SET seq = nextval(pg_get_serial_sequence('incident_titles_queue', 'seq'));
  RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS incident_titles_enqueue_new ON incidents;
CREATE TRIGGER incident_titles_enqueue_new AFTER INSERT ON incidents
  REFERENCING NEW TABLE AS new_incidents
  FOR EACH STATEMENT EXECUTE FUNCTION incident_titles_enqueue_new();
DROP TRIGGER IF EXISTS incident_titles_enqueue_changed ON incidents;
CREATE TRIGGER incident_titles_enqueue_changed AFTER UPDATE OF title ON incidents
  FOR EACH ROW WHEN (OLD.title IS DISTINCT FROM NEW.title)
  EXECUTE FUNCTION incident_titles_enqueue_changed();
INSERT INTO incident_titles (incident_id, title) SELECT id, title FROM incidents
  ON CONFLICT (incident_id) DO NOTHING;
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
    CREATE INDEX IF NOT EXISTS incident_titles_trgm ON incident_titles USING gin (title gin_trgm_ops);
  END IF;
END
$$;
DROP INDEX IF EXISTS incidents_title_trgm;
"#;

const DOWN: &str = r#"
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
    CREATE INDEX IF NOT EXISTS incidents_title_trgm ON incidents USING gin (title gin_trgm_ops);
  END IF;
END
$$;
DROP TRIGGER IF EXISTS incident_titles_enqueue_changed ON incidents;
DROP TRIGGER IF EXISTS incident_titles_enqueue_new ON incidents;
DROP FUNCTION IF EXISTS incident_titles_enqueue_changed();
DROP FUNCTION IF EXISTS incident_titles_enqueue_new();
DROP TABLE IF EXISTS incident_titles_queue;
DROP TABLE IF EXISTS incident_titles;
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

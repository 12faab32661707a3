-- Version 4: a request's own escalation time (`context.escalate_at` when it is a number; the
-- context is the agent's, any other value names no time) is a column, filled in by the database
-- when a request is inserted, in place of an index over an expression that parsed the body as
-- JSON twice on every insert and on every change of status. The body is parsed only when it
-- names the field at all. Filled in by the database, not the server, so rows that a replica
-- of the release before inserts during a rolling upgrade have it too.
ALTER TABLE requests ADD COLUMN escalate_at DOUBLE PRECISION;

CREATE FUNCTION requests_own_escalation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.escalate_at IS NULL AND strpos(NEW.body, '"escalate_at"') > 0
       AND jsonb_typeof(NEW.body::jsonb #> '{context,escalate_at}') = 'number' THEN
        NEW.escalate_at := (NEW.body::jsonb #>> '{context,escalate_at}')::double precision;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER requests_own_escalation BEFORE INSERT ON requests
    FOR EACH ROW EXECUTE FUNCTION requests_own_escalation();

-- The pending requests of version 2 get theirs as that index read it.
UPDATE requests SET escalate_at = (body::jsonb #>> '{context,escalate_at}')::double precision
    WHERE status = 'PENDING' AND jsonb_typeof(body::jsonb #> '{context,escalate_at}') = 'number';
DROP INDEX requests_escalate_at;
CREATE INDEX requests_own_escalation ON requests(escalate_at)
    WHERE status = 'PENDING' AND escalate_at IS NOT NULL;

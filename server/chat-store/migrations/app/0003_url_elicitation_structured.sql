-- URL-mode elicitation requests, and tool results' structured content (issue #12).
-- Rows stored before this migration are form requests (the only kind there was) and calls without
-- structured content.
ALTER TABLE elicitations ADD COLUMN kind TEXT NOT NULL DEFAULT 'form';  -- form | url
ALTER TABLE elicitations ADD COLUMN url TEXT;                           -- a url request's URL (schema is '')
ALTER TABLE tool_calls ADD COLUMN structured TEXT;                      -- the result's structuredContent (JSON)

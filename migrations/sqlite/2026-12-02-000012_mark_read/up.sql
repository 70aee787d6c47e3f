-- A send that also marks its chat read (`markRead: true`): the queue worker reads it when it sends.
ALTER TABLE messages ADD COLUMN mark_read BOOLEAN NOT NULL DEFAULT FALSE;

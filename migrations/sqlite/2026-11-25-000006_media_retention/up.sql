-- Media retention: the file of an old message is deleted and the row says when.
ALTER TABLE messages ADD COLUMN media_deleted_at TIMESTAMP;

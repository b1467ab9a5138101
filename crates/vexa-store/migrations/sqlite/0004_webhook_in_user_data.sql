-- Webhook settings move to where Vexa 0.12 keeps them: the user's `data` (`webhook_url`,
-- `webhook_secret`, `webhook_events`), written by the admin API's `PUT /user/webhook` and read
-- by the meetings service for delivery. Existing targets are copied over (an empty secret is
-- left out, as `PUT /user/webhook` does; a target of a user that no longer exists has no one to
-- deliver to and is not kept); then the table is dropped.
UPDATE users SET data = json_set(
        CASE WHEN json_valid(data) AND json_type(data) = 'object' THEN data ELSE '{}' END,
        '$.webhook_url', (SELECT w.url FROM user_webhooks w WHERE w.user_id = users.id))
    WHERE id IN (SELECT user_id FROM user_webhooks);
UPDATE users SET data = json_set(data,
        '$.webhook_secret', (SELECT w.secret FROM user_webhooks w WHERE w.user_id = users.id))
    WHERE id IN (SELECT user_id FROM user_webhooks WHERE secret IS NOT NULL AND secret <> '');
UPDATE users SET data = json_set(data,
        '$.webhook_events', json((SELECT w.events FROM user_webhooks w WHERE w.user_id = users.id)))
    WHERE id IN (SELECT user_id FROM user_webhooks
                 WHERE events IS NOT NULL AND json_valid(events) AND json_type(events) = 'object');
DROP TABLE user_webhooks;

-- Webhook settings move to where Vexa 0.12 keeps them: the user's `data` (`webhook_url`,
-- `webhook_secret`, `webhook_events`), written by the admin API's `PUT /user/webhook` and read
-- by the meetings service for delivery. Existing targets are copied over (an empty secret is
-- left out, as `PUT /user/webhook` does; a target of a user that no longer exists has no one to
-- deliver to and is not kept); then the table is dropped.
UPDATE users u SET data = (
        CASE WHEN jsonb_typeof(u.data::jsonb) = 'object' THEN u.data::jsonb ELSE '{}'::jsonb END
        || jsonb_build_object('webhook_url', w.url)
        || CASE WHEN w.secret IS NOT NULL AND w.secret <> ''
                THEN jsonb_build_object('webhook_secret', w.secret) ELSE '{}'::jsonb END
        || CASE WHEN w.events IS NOT NULL AND jsonb_typeof(w.events::jsonb) = 'object'
                THEN jsonb_build_object('webhook_events', w.events::jsonb) ELSE '{}'::jsonb END
    )::text
    FROM user_webhooks w
    WHERE w.user_id = u.id;
DROP TABLE user_webhooks;

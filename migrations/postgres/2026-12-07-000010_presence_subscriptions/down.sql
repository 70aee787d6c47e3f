DROP TABLE presence_subscriptions;

-- Machinery: which replica is delivering to an endpoint, and until when. A delivery round
-- claims its endpoints in a short transaction, POSTs outside any transaction and records
-- each outcome (giving the claim back) in a second short one, so no transaction stays open
-- across a receiver's answer (that held back the event feed and the endpoints' rows). A
-- replica that died mid-round leaves its claims; another takes them once `lease_until`
-- has passed. Not a projection: `rebuild` leaves it alone.
CREATE TABLE webhook_claims (
    webhook_id text PRIMARY KEY,
    holder text NOT NULL,
    lease_until timestamptz NOT NULL
);

-- Whether any version of any payment ever named the client, for a client with no current payment:
-- true is a client whose payments were all closed (it gets the popular companies), false an unknown
-- client (HTTP 404). Not served by the partial client index, so it scans payments_l0 (up to the
-- first match); it runs only for clients with no current payment.
SELECT EXISTS (SELECT 1 FROM payments_l0 WHERE external_client_id = %(client_id)s) AS known;

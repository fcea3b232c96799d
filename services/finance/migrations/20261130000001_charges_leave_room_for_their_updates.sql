-- A charge is issued once and then updated by every payment, refund, waiver and cancellation,
-- none of which touches an indexed column: each such update can stay on the row's page (a
-- HOT update: no new entries in the table's five indexes) if the page has room. Leave a fifth
-- of each new page free for them.
alter table charges set (fillfactor = 80);

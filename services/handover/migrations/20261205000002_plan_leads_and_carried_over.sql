-- The planning lead a batch was created under (its plan's due date), and what units already in
-- batches before plans, books and key receipts carry over so their handover goes on.

alter table batches add column plan_lead_months integer not null default 1;

-- Loans of earlier releases had no return time and were given a week from their loan: a week
-- from now instead, so none is overdue at once. (They are the ones whose key's tag was made up.)
update key_loans set due_back_at = greatest(out_at, now()) + interval '7 days'
where back_at is null and tag like 'before-tags:%';

-- Made-up tags short enough to be named in a loan (64 characters at most).
update key_sets set tag = 'pre-' || substr(md5(tag), 1, 20) where tag like 'before-tags:%';
update key_loans l set tag = s.tag from key_sets s
where s.key_set_id = l.key_set_id and l.tag like 'before-tags:%';

-- Earlier releases took the keys of a unit in a batch as there: the owner's set and spare of
-- each kind of a unit not yet handed over are received.
insert into key_sets (key_set_id, tenant_id, project_id, building_id, unit_id, kind, set, tag, status,
                      received_by, received_at)
select gen_random_uuid(), h.tenant_id, c.project_id, c.building_id, h.unit_id, k.kind, s.set,
       'pre-' || substr(md5(h.unit_id::text || k.kind || s.set), 1, 20), 'in_office', 'before key receipts', now()
from handovers h join contracts c on c.unit_id = h.unit_id,
     unnest(array['security_door', 'interior_door', 'intercom_door', 'water_meter_box', 'mailbox']) as k (kind),
     unnest(array['owner', 'spare']) as s (set)
where h.keys_released_at is null
  and not exists (select 1 from key_sets x where x.unit_id = h.unit_id)
  and h.batch_id in (select batch_id from batches where plan_approved_by = 'before plans');

-- A batch whose books an earlier release recorded as ready keeps them: both books of its
-- project (or building) on record under that version.
insert into books (book_id, tenant_id, project_id, building_id, kind, version, document_ref, recorded_by, recorded_at)
select gen_random_uuid(), b.tenant_id, b.project_id, b.building_id, k.kind, 'ready ' || b.books_ready_at::date,
       'recorded as ready before books had versions', 'before versions', b.books_ready_at
from batches b, unnest(array['residence_manual', 'warranty_certificate']) as k (kind)
where b.books_ready_at is not null
on conflict do nothing;

-- Handover as the seed runs it (seed ⑧ 5.1, ④ 4.5): the plan a month ahead and its approval,
-- notices on their date, the two books, every key from its arrival, refusals and issues.

-- The tenant's leads and notice time (seed ⑧ 5.1.1: one month; 5.1.3: two weeks).
create table handover_settings (
    tenant_id        uuid        primary key,
    plan_lead_months integer     not null check (plan_lead_months between 1 and 12),
    notice_lead_days integer     not null check (notice_lead_days between 14 and 90),
    notice_minute    integer     not null check (notice_minute between 0 and 1439),
    updated_at       timestamptz not null default now()
);

alter table batches
    add column time_zone            text not null default 'Asia/Shanghai',
    add column notice_lead_days     integer not null default 14,
    add column notices_at           timestamptz,
    add column lead_override_reason text,
    add column lead_overridden_by   text,
    add column plan_materials       text[],
    add column plan_tasks           text[],
    add column plan_departments     text[],
    add column plan_submitted_by    text,
    add column plan_submitted_at    timestamptz,
    add column plan_approved_by     text,
    add column plan_approved_at     timestamptz;

-- Batches of earlier releases sent their notices when a unit joined: their plans count as
-- approved then, and their notices as due then.
update batches set plan_approved_at = created_at, plan_approved_by = 'before plans',
                   notices_at = created_at;
update batches set notices_at = created_at where notices_at is null;
alter table batches alter column notices_at set not null;

-- The plan's schedule: which building comes on which day, to how many counters, with whom.
create table plan_days (
    batch_id    uuid    not null references batches (batch_id),
    line        integer not null,
    day         date    not null,
    building_id uuid    not null,
    counters    integer not null check (counters between 1 and 50),
    staff       text[]  not null,
    primary key (batch_id, line)
);

-- The residence manual and the quality warranty certificate, per project, building or layout.
create table books (
    book_id      uuid        primary key,
    tenant_id    uuid        not null,
    project_id   uuid        not null,
    building_id  uuid,
    layout       text        not null default '',
    kind         text        not null check (kind in ('residence_manual', 'warranty_certificate')),
    version      text        not null,
    document_ref text        not null,
    recorded_by  text        not null,
    recorded_at  timestamptz not null default now()
);

create unique index books_one_version on books
    (tenant_id, project_id, coalesce(building_id, '00000000-0000-0000-0000-000000000000'::uuid), layout, kind, version);
create index books_project on books (tenant_id, project_id, kind, recorded_at desc);

-- Units' layouts (from UnitRegistered): a book may be per layout.
alter table units add column layout text not null default '';

alter table handovers
    add column notice_late      boolean not null default false,
    add column manual_book_id   uuid references books (book_id),
    add column certificate_book_id uuid references books (book_id);

alter table notices add column late boolean not null default false,
                    add column tracking_number text;

-- The owner's refusal to accept, with the reason, and the issues raised that are not defects.
alter table inspections add column refusal_reason text;

create table inspection_issues (
    issue_id      uuid primary key,
    tenant_id     uuid not null,
    inspection_id uuid not null references inspections (inspection_id),
    unit_id       uuid not null,
    kind          text not null check (kind in ('estate', 'fees', 'sales', 'other')),
    description   text not null
);

-- Every key from the moment it arrives from the contractor: a unit's five kinds (the owner's
-- set and one emergency spare), a floor's public door and window keys and an installation's
-- equipment-room keys (a working set and one emergency spare), each with its tag.
create table key_sets (
    key_set_id   uuid        primary key,
    tenant_id    uuid        not null,
    project_id   uuid        not null,
    building_id  uuid        not null,
    unit_id      uuid,
    floor        integer,
    installation text,
    kind         text        not null,
    set          text        not null check (set in ('owner', 'working', 'spare')),
    tag          text        not null,
    status       text        not null check (status in ('in_office', 'handed_over', 'on_loan')),
    received_by  text        not null,
    received_at  timestamptz not null default now(),
    check (num_nonnulls(unit_id, floor, installation) = 1),
    check (unit_id is null or kind in ('security_door', 'interior_door', 'intercom_door', 'water_meter_box', 'mailbox')),
    check (unit_id is null or set in ('owner', 'spare')),
    check (floor is null or (kind in ('public_door', 'window') and set in ('working', 'spare'))),
    check (installation is null or (kind = 'equipment_room' and set in ('working', 'spare'))),
    unique (tenant_id, project_id, tag)
);

-- One set of each kind per holder: one owner's set, one working set, one emergency spare.
create unique index key_sets_one_per_holder on key_sets
    (tenant_id, building_id, coalesce(unit_id::text, 'floor:' || floor::text, 'installation:' || installation), kind, set);
create index key_sets_unit on key_sets (unit_id) where unit_id is not null;

-- The key rows of earlier releases, written at the release.
insert into key_sets (key_set_id, tenant_id, project_id, building_id, unit_id, kind, set, tag, status,
                      received_by, received_at)
select gen_random_uuid(), k.tenant_id, c.project_id, c.building_id, k.unit_id, k.kind, k.set,
       'before-tags:' || k.unit_id || ':' || k.kind || ':' || k.set, k.status, 'before key receipts',
       coalesce(h.keys_released_at, now())
from keys k join contracts c on c.unit_id = k.unit_id join handovers h on h.unit_id = k.unit_id;

alter table key_loans
    add column key_set_id uuid references key_sets (key_set_id),
    add column tag text,
    add column reason text not null default 'repair'
        check (reason in ('repair', 'decoration', 'meter_reading', 'inspection', 'emergency', 'cleaning')),
    add column due_back_at timestamptz,
    add column borrower_organisation text not null default '';
update key_loans l set key_set_id = s.key_set_id, tag = s.tag, due_back_at = l.out_at + interval '7 days'
from key_sets s where s.unit_id = l.unit_id and s.kind = l.kind and s.set = 'spare';
alter table key_loans
    -- Its check (spare keys only) and its key reference go with it.
    drop column set_name,
    alter column key_set_id set not null,
    alter column tag set not null,
    alter column due_back_at set not null,
    alter column unit_id drop not null;
drop index key_loans_one_open;
create unique index key_loans_one_open on key_loans (key_set_id) where back_at is null;
create index key_loans_overdue on key_loans (tenant_id, due_back_at) where back_at is null;
drop table keys;

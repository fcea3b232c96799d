-- A closed repair's follow-up visit (an unsatisfied owner reopens it in a new round, signed off
-- again), and a contractor's repair plan proposing a cost above the not-to-exceed amount.
alter table repair_requests
    add column round             integer not null default 1 check (round >= 1),
    add column follow_up_score   integer check (follow_up_score between 1 and 5),
    add column follow_up_by      text,
    add column followed_up_at    timestamptz,
    add column plan_text         text,
    add column plan_estimate_minor bigint check (plan_estimate_minor > 0),
    add column plan_state        text check (plan_state in ('proposed', 'approved', 'rejected')),
    add column plan_decided_by   text;

alter table repair_sign_offs
    add column round integer not null default 1,
    drop constraint repair_sign_offs_pkey,
    add primary key (repair_request_id, round, party);

-- Every follow-up, one per round.
create table repair_follow_ups (
    repair_request_id uuid        not null references repair_requests (repair_request_id),
    round             integer     not null,
    score             integer     not null check (score between 1 and 5),
    visitor           text        not null,
    comment           text        not null,
    visited_at        timestamptz not null default now(),
    primary key (repair_request_id, round)
);

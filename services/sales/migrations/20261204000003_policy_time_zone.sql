-- The project's time zone (tz database name) decides what its days are: when a top-up due
-- on a date lapses, when a contract's payment due on a date is late.
alter table projects add column time_zone text not null default 'Asia/Shanghai'
    check (time_zone <> '' and length(time_zone) <= 64);

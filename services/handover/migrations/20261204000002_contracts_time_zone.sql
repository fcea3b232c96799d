-- The project's time zone as sales stated it on the contract: the handover window's days are
-- days there, and the move-in saga learns it from UnitAddedToBatch.
alter table contracts add column time_zone text not null default 'Asia/Shanghai';

-- The bank lending a contract's mortgage, if named at signing: its deed goes there.
alter table contracts add column lending_bank text not null default '';

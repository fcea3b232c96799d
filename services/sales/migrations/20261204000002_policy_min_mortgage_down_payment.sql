-- The least down payment a mortgage needs is the project's to set (local rules differ);
-- 20 % is the usual minimum for a first home.
alter table projects add column min_mortgage_down_payment_bp integer not null default 2000
    check (min_mortgage_down_payment_bp between 1 and 10000);

-- Complaints recorded before the desk (their terms still the placeholder of
-- 20261205000001) keep anju's default standard for their severity
-- (domain::standard::Targets::default_for) and count in the month they were recorded, in
-- China Standard Time (the default standard's zone); they have no clocks.
update complaints set
    recorded_month = to_char(recorded_at at time zone 'Asia/Shanghai', 'YYYY-MM'),
    terms = case severity
        when 'urgent' then '{"calendar":{"time_zone":"Asia/Shanghai","week":[[[540,720],[810,1080]],[[540,720],[810,1080]],[[540,720],[810,1080]],[[540,720],[810,1080]],[[540,720],[810,1080]],[],[]],"holidays":[],"make_up_days":[],"make_up_hours":[[540,720],[810,1080]]},"targets":{"acknowledge":30,"route":60,"resolve":480,"follow_up":960},"warn_percent":80,"supervisor":"customer service supervisor"}'::jsonb
        when 'high' then '{"calendar":{"time_zone":"Asia/Shanghai","week":[[[540,720],[810,1080]],[[540,720],[810,1080]],[[540,720],[810,1080]],[[540,720],[810,1080]],[[540,720],[810,1080]],[],[]],"holidays":[],"make_up_days":[],"make_up_hours":[[540,720],[810,1080]]},"targets":{"acknowledge":60,"route":120,"resolve":960,"follow_up":960},"warn_percent":80,"supervisor":"customer service supervisor"}'::jsonb
        when 'medium' then '{"calendar":{"time_zone":"Asia/Shanghai","week":[[[540,720],[810,1080]],[[540,720],[810,1080]],[[540,720],[810,1080]],[[540,720],[810,1080]],[[540,720],[810,1080]],[],[]],"holidays":[],"make_up_days":[],"make_up_hours":[[540,720],[810,1080]]},"targets":{"acknowledge":120,"route":240,"resolve":1440,"follow_up":1440},"warn_percent":80,"supervisor":"customer service supervisor"}'::jsonb
        when 'low' then '{"calendar":{"time_zone":"Asia/Shanghai","week":[[[540,720],[810,1080]],[[540,720],[810,1080]],[[540,720],[810,1080]],[[540,720],[810,1080]],[[540,720],[810,1080]],[],[]],"holidays":[],"make_up_days":[],"make_up_hours":[[540,720],[810,1080]]},"targets":{"acknowledge":240,"route":480,"resolve":2400,"follow_up":2400},"warn_percent":80,"supervisor":"customer service supervisor"}'::jsonb
    end
where terms = '{}'::jsonb;
alter table complaints alter column recorded_month drop default, alter column terms drop default;


-- ListSagas by business key (a unit's, subscription's or contract's saga) without a flow.
create index sagas_tenant_key on sagas (tenant_id, saga_key);

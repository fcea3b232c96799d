-- The open complaints, for the desk's figures (metrics) without reading the closed ones.
create index complaints_open on complaints (complaint_id) where status <> 'closed';

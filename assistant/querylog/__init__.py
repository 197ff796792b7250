"""The query log: its writes (records: answers' outcomes, widget replays, votes; log_writer:
in batches off the request), its reads (stats for the admin page, from the daily rollups of
rollups, with histogram's fixed buckets) and the admin list's paging."""

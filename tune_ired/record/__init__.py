"""The run record: what a run, a sweep and a campaign write, and reading it back. No torch, no Ray.

`catalogue` (every metric key, trial statuses), `files` (atomic writes), `provenance` (what
produced a record), `runfolder` (a run folder's files and `recorded_run`, the one loop every
driver runs), `tunestate` (Ray Tune's snapshot files), `results` (sweep folders into tables),
`sweepfile` (sweep.json), `campaignfile` (campaign.json), `estimate` (what a sweep is expected
to cost, and when it will end) and `sweepview` (the table `status` and the console print).
"""

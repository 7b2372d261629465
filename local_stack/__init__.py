"""The local stack: AWS's parts played on one machine (moto's S3 server on loopback, the
S3 event relay, the app as a process). What to deliver events to is passed in by the
composition root (``cli``); nothing here imports a deployable."""

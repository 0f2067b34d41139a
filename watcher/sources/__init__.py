"""Where candidate input versions come from: the listing, filesystem events, an SQS queue of S3
event notifications, a webhook for MinIO/Ceph (one module each); ``hub`` joins them for the daemon."""

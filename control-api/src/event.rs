//! Events of a device, as `GET /v1/events` streams them.

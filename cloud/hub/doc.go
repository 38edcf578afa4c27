// Package hub is mirror-cloud's service: the WeChat hub that turns a scan of a mirror's QR
// code into the photo in the shopper's WeChat and a binding on the mirror's screen.
//
// A [Hub] serves the agents' API (PUT /v1/photos/{id}, POST /v1/qrcodes), WeChat's callback
// (/wechat/callback), the shopper's photo page (/p/{photo_id}, behind snsapi_base OAuth), and
// in sim mode /sim/scan, which makes a [Simulator] (cloud/hub/hubsim) push a real, signed event.
// It keeps its state behind the small [Store] interface (cloud/hub/hubstore; the backends
// hubstore/sqlite, the default, with photos as files beside it, and hubstore/postgres) and
// publishes bindings (docs/contracts.md §1) through a [Publisher]: the embedded broker
// (cloud/hub/embedbroker: mochi-mqtt, devices authenticated from the registry, each limited to
// mirror/{username}/#) or an external broker via [DialMQTT]. The hub imports hubstore, but no
// backend, broker or simulator: cmd/mirror-cloud picks them from its configuration and
// passes them in [Options].
//
// Deduplication of WeChat's retries is durable: an event's key (FromUserName, CreateTime,
// Event, EventKey) is stored with its binding and reply before the binding is published, so a
// retry, even after a restart, gets the same binding ID and the same reply.
package hub

// Package hub is mirror-cloud's service: the WeChat hub that turns a scan of a mirror's QR
// code into the photo in the shopper's WeChat and a binding on the mirror's screen.
//
// A [Hub] serves the agents' API (PUT /v1/photos/{id}, POST /v1/qrcodes), WeChat's callback
// (/wechat/callback), the shopper's photo page (/p/{photo_id}, behind snsapi_base OAuth), and
// in sim mode /sim/scan, which makes the built-in WeChat simulator push a real, signed event.
// It keeps its state behind the small [Store] interface ([OpenSQLite] by default, photos as
// files beside it) and publishes bindings (docs/contracts.md §1) through a [Publisher]: the embedded
// [Broker] (mochi-mqtt, devices authenticated from the registry, each limited to
// mirror/{username}/#) or an external broker via [DialMQTT].
//
// Deduplication of WeChat's retries is durable: an event's key (FromUserName, CreateTime,
// Event, EventKey) is stored with its binding and reply before the binding is published, so a
// retry, even after a restart, gets the same binding ID and the same reply.
package hub

package wire

import "regexp"

// DeviceIDRule is the shape of a device ID: also the mirror's MQTT client ID and username
// and the second level of its topics.
const DeviceIDRule = `^[a-z0-9][a-z0-9-]{0,62}$`

// PhotoIDRule is the shape of a photo ID (the agent makes ULIDs; the hub accepts this).
const PhotoIDRule = `^[0-9A-Za-z_-]{1,64}$`

var (
	deviceIDRE = regexp.MustCompile(DeviceIDRule)
	photoIDRE  = regexp.MustCompile(PhotoIDRule)
)

// ValidDeviceID reports whether id follows [DeviceIDRule].
func ValidDeviceID(id string) bool { return deviceIDRE.MatchString(id) }

// ValidPhotoID reports whether id follows [PhotoIDRule].
func ValidPhotoID(id string) bool { return photoIDRE.MatchString(id) }

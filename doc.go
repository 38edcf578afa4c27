// Package fitmirror is the software of a smart fitting mirror: mirror-agent on the mirror,
// mirror-cloud (the WeChat hub) and mirrorctl for the fleet. See README.md.
package fitmirror

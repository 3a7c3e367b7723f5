//go:build !linux

package store

import "errors"

// adviseHugePages: -L is memcached's transparent huge pages, which only
// Linux has; checkLargePages refuses first where /sys has no THP setting.
func adviseHugePages([]byte) error { return errors.New("transparent huge pages need Linux") }

func adviseBasePages([]byte) error { return errors.New("transparent huge pages need Linux") }

func collapseHugePage([]byte) error { return errors.New("transparent huge pages need Linux") }

var errCollapseBusy = errors.New("busy")

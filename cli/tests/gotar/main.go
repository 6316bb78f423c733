package main

import (
	"archive/tar"
	"io"
	"os"
	"path/filepath"
	"time"
)

// Mirrors the entry rules of Flux's CLI build (filepath.Walk, FileInfoHeader, relative
// names, environment data removed), writing an uncompressed tar to stdout.
func main() {
	root := os.Args[1]
	tw := tar.NewWriter(os.Stdout)
	filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if m := fi.Mode(); !(m.IsRegular() || m.IsDir()) {
			return nil
		}
		h, _ := tar.FileInfoHeader(fi, p)
		rel, _ := filepath.Rel(root, p)
		h.Name = rel
		h.Uid, h.Gid, h.Uname, h.Gname = 0, 0, "", ""
		h.ModTime, h.AccessTime, h.ChangeTime = time.Time{}, time.Time{}, time.Time{}
		tw.WriteHeader(h)
		if fi.Mode().IsRegular() {
			f, _ := os.Open(p)
			io.Copy(tw, f)
			f.Close()
		}
		return nil
	})
	tw.Close()
}

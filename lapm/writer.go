package lapm

// The link's writer goroutine and the owner's side of it: encoded frames
// are queued in batches, and the owner stops taking received frames while
// too much output waits (maxPending).

// maxPending bounds the encoded line octets the owner goroutine queues
// for the writer. Above it the owner stops taking received frames, so a
// peer that floods commands (polls, REJ, SREJ, XID, TEST) while not
// reading what they provoke is pushed back through the line instead of
// growing memory.
const maxPending = 256 << 10

// keepOut is the largest output buffer an idle link keeps; larger ones go
// back to the pool once the writer has caught up.
const keepOut = 512

// wake wakes the owner goroutine if it sleeps (a later wake-up finds
// whatever more there is to do).
func (l *Link) wake() {
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// output encodes frames and hands them to the writer goroutine (see
// publish), starting one if none runs. Encoding happens outside omu, so a
// writer that finished a write never waits for a batch to be encoded.
func (l *Link) output(frames []Frame) {
	// Room for the batch at once, up to where publish hands it over:
	// growing the buffer frame by frame copied it again at every
	// doubling (with the copy in publish that the queue replaced, 4.2 %
	// of a gateway's cycles sending to 100 callers; docs/BENCHMARKS.md).
	// Each frame gets the stuffing random data needs (about 3 %, n/32)
	// and the batch the worst case of one frame (n/4) on top, so that the
	// buffer is of the size class the encoded batch needs, not of twice
	// it; a batch that stuffs more grows once more.
	room, most := 16, 0
	for _, f := range frames {
		n := maxHead + len(f.Info)
		room += n + n/32 + 16
		most = max(most, n)
	}
	room += most / 4
	l.obuf = l.grow(l.obuf, min(room, publishEarly+8<<10))
	for i, f := range frames {
		// The header is encoded apart from the information field, which
		// is not copied behind it.
		head := f.appendHead(l.hbuf[:0])
		n := len(head) + len(f.Info)
		need := n + n/4 + 16 // worst-case stuffing, FCS, flag
		if !l.sentFlags {
			l.sentFlags = true
			l.obuf = l.enc.AppendFlags(l.grow(l.obuf, need+16), 16)
		}
		l.obuf = l.enc.AppendFrameParts(l.grow(l.obuf, need), head, f.Info)
		l.publish(i == len(frames)-1)
	}
}

// publishEarly is how much of a batch the owner encodes before it hands
// it to an idle writer (see publish). Handing over from the first frame
// on made about a third of a gateway's line writes in bulk transfer a
// single 4 KiB frame, each a write, a writer started and a wake-up at the
// far end for little data; handing over whole batches took about 0.3
// cycles per octet off the full path, caller and gateway together
// (docs/BENCHMARKS.md). A batch is at most a window of I frames (k 127
// of 4 KiB: a little over 512 KiB encoded), which the bridge's Writes
// toward a link fill on a proven fast line (bridge/pump.go: up to 256
// payloads), so publishEarly is above it and such a batch goes to the
// writer whole, in one write: 256 KiB, which handed a window over in two
// parts, cost the gateway about 0.5 cycles per octet more in the
// twenty-seventh session. Only longer batches (a retransmission behind a
// window) are handed over in parts while the owner encodes the rest.
const publishEarly = 1 << 20

// copyBehind is the largest batch that publish copies behind one the
// writer has not taken yet (one write for both); a larger one is queued
// as it is, not copied.
const copyBehind = 4 << 10

// publish moves the encoded octets in obuf to the writer: when the
// writer has taken everything before, once publishEarly octets of the
// batch are encoded, otherwise at the end of the batch (last). A batch's
// end always goes, so no frame waits for more data (a keystroke, an
// acknowledgement: lapm/latency_test.go).
func (l *Link) publish(last bool) {
	l.omu.Lock()
	defer l.omu.Unlock()
	switch {
	case l.oerr != nil:
		l.obuf = l.obuf[:0] // the line is gone; the owner ends the link
		return
	case l.npend == 0 && (last || len(l.obuf) >= publishEarly) || last && len(l.obuf) > copyBehind:
		l.opend = append(l.opend, l.obuf)
		l.npend += len(l.obuf)
		l.obuf, l.ospare = l.ospare, nil
	case last:
		tail := &l.opend[len(l.opend)-1]
		*tail = append(l.grow(*tail, len(l.obuf)), l.obuf...)
		l.npend += len(l.obuf)
		l.obuf = l.obuf[:0]
	default:
		return
	}
	l.maxPend = max(l.maxPend, l.npend)
	l.otrim = l.m.txIdle()
	if !l.writing {
		l.writing = true
		l.wg.Add(1)
		go l.writeLoop()
	}
}

// grow returns b with room for n more octets, taking a larger buffer
// from the pool (and giving b back) when it has not.
func (l *Link) grow(b []byte, n int) []byte {
	if cap(b)-len(b) >= n {
		return b
	}
	nb := append(getBuf(len(b)+n), b...)
	putBuf(b)
	return nb
}

// writeLoop is the writer goroutine: it takes the queued batches and
// writes them, in order, until the queue is empty, then ends; after a
// failed write it writes nothing more. It wakes the owner when the owner
// waits for it (backlog, release) and when the line fails.
func (l *Link) writeLoop() {
	defer l.wg.Done()
	var bufs [][]byte
	for {
		l.omu.Lock()
		for _, b := range bufs {
			if l.ospare == nil {
				l.ospare = b[:0]
			} else {
				putBuf(b)
			}
		}
		if bufs != nil {
			clear(bufs) // the queue array must not keep the buffers
			l.oqueue = bufs[:0]
		}
		if l.npend == 0 || l.oerr != nil {
			l.writing = false
			if l.otrim {
				l.trimLocked()
			}
			wake := l.onotify || l.oerr != nil
			l.omu.Unlock()
			if wake {
				l.wake()
			}
			return
		}
		bufs, l.opend, l.oqueue, l.npend = l.opend, l.oqueue, nil, 0
		wake := l.onotify
		l.omu.Unlock()
		if wake {
			l.wake() // the backlog was taken: the owner may go on
		}
		var sent uint64
		var err error
		for _, b := range bufs {
			var n int
			n, err = l.line.Write(b)
			sent += uint64(max(n, 0))
			if err != nil {
				break
			}
		}
		l.omu.Lock()
		l.lineOut += sent
		if err != nil && l.oerr == nil {
			l.oerr = err
		}
		l.omu.Unlock()
	}
}

// trimLocked gives large output buffers back to the pool, so that an idle
// link does not keep those of its last burst. The caller holds omu and no
// writer runs.
func (l *Link) trimLocked() {
	if cap(l.ospare) > keepOut {
		putBuf(l.ospare)
		l.ospare = nil
	}
}

// outputState reports whether the writer is behind by more than
// maxPending octets (the owner then stops taking received frames, and the
// writer wakes it once it took the backlog), the line's write error, and
// lets the writer trim the buffers when nothing more is to be sent for now.
func (l *Link) outputState() (backlogged bool, err error) {
	idle := l.m.txIdle()
	l.omu.Lock()
	defer l.omu.Unlock()
	backlogged = l.writing && l.npend >= maxPending
	l.onotify = backlogged
	l.otrim = idle
	if idle && !l.writing {
		l.trimLocked()
	}
	if idle {
		if cap(l.obuf) > keepOut {
			putBuf(l.obuf)
			l.obuf = nil
		}
	}
	return backlogged, l.oerr
}

// backlogged reports whether the writer is behind by more than
// maxPending octets.
func (l *Link) backlogged() bool {
	l.omu.Lock()
	defer l.omu.Unlock()
	return l.writing && l.npend >= maxPending
}

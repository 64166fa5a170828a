"""A connection to securerd, shared by threads.

Each request has an id; the daemon's messages carry it.  A thread that
waits for its request's messages reads the socket itself when no other
thread is reading (leader and followers): what it reads for others goes
to their queues and wakes them, so one thread alone pays no hand-off,
and several share the socket without a reader thread of their own.
"""

from __future__ import annotations

import collections
import itertools
import socket
import threading
from typing import Any

from .errors import (ConnectionLost, OverBudget, ProtocolViolation,
                     SecurerError, SlowClient, from_error)

from . import _proto as P
from . import _resolve
from .values import dumps, loads

# Errors of the connection itself, the daemon's last line before it
# closes it: kept for every later use, as they came.
DROPPED: dict[str, type[SecurerError]] = {
    SlowClient.code: SlowClient, OverBudget.code: OverBudget}

__all__ = ["Connection"]

_RECV = 262144


class _SendFailed(Exception):
    """A write failed; the connection is about to be given up."""


class Connection:
    """One connection to the daemon, after hello.

    Args:
        sock: a connected socket (see :func:`connect`).
        hello: the members of hello.
    """

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._ids = itertools.count(1)
        self._wlock = threading.Lock()
        self._cond = threading.Condition()
        self._queues: dict[int, collections.deque[dict[str, Any]]] = {}
        self._alias: dict[int, int] = {}
        # Executions given up on before their end: id -> session.
        self._abandoned: dict[int, str | None] = {}
        self._reading = False
        self._dead: SecurerError | None = None
        self._buf = bytearray()
        self._rbuf = bytearray(_RECV)
        self._rview = memoryview(self._rbuf)
        self._off = 0
        self._scan = 0
        self.server = ""
        #: The daemon has sent a binary vector, so it reads them too: long
        #: vectors of tool results go as "bin" from then on.  (The hello
        #: reply does not say; a daemon that sends none gets JSON.)
        self.peer_binary = False
        # Its users: a session and its forks share it (session.fork).
        self._users = 1

    @classmethod
    def open(cls, socket_path: str | None = None, *, autostart: bool = True,
             securerd: str | None = None, token: str | None = None,
             client: str | None = None, binary: bool = True
             ) -> Connection:
        """Connect (starting a private daemon if need be) and say hello."""
        sock = _resolve.connect(socket_path, autostart=autostart,
                                securerd=securerd)
        conn = cls(sock)
        try:
            r = conn.call("hello", P.hello_fields(token, client, binary))
            P.check_hello(r)
            srv = r.get("server")
            conn.server = srv if isinstance(srv, str) else ""
        except BaseException:
            conn.close()
            raise
        return conn

    # --- Sending -----------------------------------------------------------

    def _send(self, obj: dict[str, Any]) -> None:
        data = (dumps(obj) + "\n").encode("utf-8")
        if len(data) > P.LINE_MAX:
            from .errors import TooLarge
            raise TooLarge(f"the request is {len(data)} bytes, more than "
                           f"securerd reads in a line ({P.LINE_MAX})")
        with self._wlock:
            if self._dead is not None:
                raise self._dead
            try:
                self._sock.sendall(data)
            except OSError as e:
                # What the daemon said before it closed is read first:
                # it may say why (too_large).
                try:
                    self._sock.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                raise _SendFailed(f"write to securerd: {e.strerror or e}"
                                  ) from None

    def request(self, op: str, fields: dict[str, Any]) -> int:
        """Sends a request; its messages are kept for :meth:`wait`.
        Returns its id; :meth:`done` forgets it."""
        rid = next(self._ids)
        with self._cond:
            if self._dead is not None:
                raise self._dead
            self._queues[rid] = collections.deque()
        try:
            self._send({"id": rid, "op": op, **fields})
        except _SendFailed as e:
            try:
                self._why_closed(rid)
            finally:
                self.done(rid)
                self._fail(ConnectionLost(str(e)))
            raise ConnectionLost(str(e)) from None
        except BaseException:
            self.done(rid)
            raise
        return rid

    def _why_closed(self, rid: int) -> None:
        """After a failed write: the daemon's refusal of rid, raised, if
        it sent one before it closed the connection."""
        while True:
            try:
                self._sock.settimeout(2)
                msg = self.wait(rid)
            except (ConnectionLost, ProtocolViolation, TimeoutError,
                    OSError):
                return
            # Outside the try: Unauthorized and AuthThrottled are also
            # PermissionErrors, which the OSError above would swallow.
            if msg.get("ok") is False:
                P.raise_for(msg)

    def send_for(self, owner: int, fields: dict[str, Any]) -> None:
        """Sends a request whose only answer, a refusal, goes to request
        owner's queue (a tool_result)."""
        rid = next(self._ids)
        with self._cond:
            if owner in self._queues:
                self._alias[rid] = owner
        try:
            self._send({"id": rid, **fields})
        except _SendFailed as e:
            self._fail(ConnectionLost(str(e)))
            raise ConnectionLost(str(e)) from None

    def done(self, rid: int, abandoned: bool = False,
             session: str | None = None) -> None:
        """Forgets request rid (and its tool results).  abandoned: it is
        an execution that has not ended (in session): its tool calls are
        answered with an error until it does."""
        with self._cond:
            self._queues.pop(rid, None)
            for a in [a for a, o in self._alias.items() if o == rid]:
                del self._alias[a]
            if abandoned:
                self._abandoned[rid] = session

    def call(self, op: str, fields: dict[str, Any] | None = None
             ) -> dict[str, Any]:
        """A request and its final reply; the error raised if refused."""
        rid = self.request(op, fields or {})
        try:
            while True:
                msg = self.wait(rid)
                if "ok" in msg and "event" not in msg and \
                        msg.get("id") in (rid, None):
                    return P.raise_for(msg)
        finally:
            self.done(rid)

    # --- Receiving ---------------------------------------------------------

    def wait(self, rid: int, timeout: float | None = None
             ) -> dict[str, Any]:
        """The next message for request rid (its events, final reply, and
        refusals of its tool results, whose id is theirs)."""
        with self._cond:
            while True:
                q = self._queues.get(rid)
                if q:
                    return q.popleft()
                if self._dead is not None:
                    raise self._dead
                if not self._reading:
                    self._reading = True
                    break
                if not self._cond.wait(timeout):
                    raise TimeoutError("no message from securerd in time")
        # The reader, for every waiting thread, until its own comes.
        while True:
            try:
                msg = self._read_message()
            except SecurerError as e:
                with self._cond:
                    self._reading = False
                    self._fail_locked(e)
                raise
            except BaseException:
                with self._cond:
                    self._reading = False
                    self._cond.notify_all()
                raise
            with self._cond:
                mine = self._route(msg, rid)
                if mine is not None:
                    self._reading = False
                    self._cond.notify_all()
                    return mine

    def _route(self, msg: dict[str, Any], rid: int) -> dict[str, Any] | None:
        """Puts msg in its queue; returns it if it is rid's."""
        mid = msg.get("id")
        if mid is None:
            self._dropped(msg)
            # An error the daemon could tie to no request is about the
            # oldest in flight.
            if msg.get("ok") is False and self._queues:
                mid = min(self._queues)
            else:
                return None
        if not isinstance(mid, int) or isinstance(mid, bool):
            return None
        owner = self._alias.get(mid, mid)
        if owner == rid:
            return msg
        q = self._queues.get(owner)
        if q is not None:
            q.append(msg)
            self._cond.notify_all()
            return None
        # Nobody waits: a tool call still needs an answer, or the code
        # would block until its deadline.
        if owner in self._abandoned:
            if "event" not in msg:
                del self._abandoned[owner]
                return None
            msg = {"session": self._abandoned[owner], **msg}
        ans = P.abandoned_result(msg)
        if ans is not None:
            threading.Thread(target=self._answer_abandoned, args=(ans,),
                             daemon=True).start()
        return None

    def _answer_abandoned(self, ans: dict[str, Any]) -> None:
        try:
            self._send({"id": next(self._ids), **ans})
        except (SecurerError, _SendFailed):
            pass

    def _read_message(self) -> dict[str, Any]:
        buf = self._buf
        while True:
            nl = buf.find(b"\n", self._scan)
            if nl >= 0:
                line = bytes(buf[self._off:nl])
                self._off = self._scan = nl + 1
                if self._off >= len(buf):
                    buf.clear()
                    self._off = self._scan = 0
                elif self._off > _RECV:
                    del buf[:self._off]
                    self._scan -= self._off
                    self._off = 0
                try:
                    msg = loads(line)
                except ValueError:
                    raise ProtocolViolation("securerd sent a line that is "
                                            "not JSON") from None
                if not isinstance(msg, dict):
                    raise ProtocolViolation("securerd sent a line that is "
                                            "not a JSON object")
                return msg
            self._scan = len(buf)
            if len(buf) - self._off > P.LINE_MAX:
                raise ProtocolViolation(f"securerd sent a line longer than "
                                        f"{P.LINE_MAX} bytes")
            try:
                # Into a buffer kept for it: recv() of a large size
                # would allocate (and map) that much each time.
                n = self._sock.recv_into(self._rbuf)
            except InterruptedError:
                continue
            except OSError as e:
                raise ConnectionLost(f"read from securerd: "
                                     f"{e.strerror or e}") from None
            if n == 0:
                raise ConnectionLost("securerd closed the connection")
            buf += self._rview[:n]

    def _dropped(self, msg: dict[str, Any]) -> None:
        """The daemon dropped this connection and said why (slow_client,
        over_budget): every later use raises that."""
        error = msg.get("error")
        if msg.get("ok") is not False or not isinstance(error, dict) or \
                error.get("code") not in DROPPED:
            return
        self._fail_locked(from_error(error))

    def _fail(self, e: SecurerError) -> None:
        with self._cond:
            self._fail_locked(e)

    def _fail_locked(self, e: SecurerError) -> None:
        if self._dead is None:
            self._dead = e if isinstance(e, (ConnectionLost, SlowClient,
                                             OverBudget)) else \
                ConnectionLost(f"the connection to securerd is unusable: "
                               f"{e}")
            try:
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._cond.notify_all()

    @property
    def closed(self) -> bool:
        """Whether the connection is gone."""
        return self._dead is not None

    def retain(self) -> None:
        """One more user (a session forked on it): :meth:`release` then
        closes it only with the last."""
        with self._cond:
            self._users += 1

    def release(self) -> None:
        """A user is done with the connection: it is closed once none is
        left."""
        with self._cond:
            self._users -= 1
            last = self._users <= 0
        if last:
            self.close()

    def close(self) -> None:
        """Closes the connection; the daemon closes its sessions."""
        with self._cond:
            if self._dead is None:
                self._dead = ConnectionLost("the connection was closed")
            self._cond.notify_all()
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()

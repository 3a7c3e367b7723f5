"""Round-trips every command family through pymemcache against HOST PORT.

Run twice by the Go test: with default_noreply=True (pymemcache's default,
where any stray byte from the server desynchronises the stream) and False.
Exits non-zero with a message on the first mismatch.
"""
import sys

from pymemcache.client.base import Client


def check(what, got, want):
    if got != want:
        sys.exit(f"{what}: got {got!r}, want {want!r}")


def main():
    host, port, noreply = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "noreply"
    c = Client((host, port), default_noreply=noreply, connect_timeout=5, timeout=10)
    c.flush_all(noreply=False)
    for _ in range(3):  # repeat: a desync shows up on the second round
        check("set", c.set("a", b"1", expire=100, flags=5, noreply=False), True)
        c.set("b", b"hello")
        check("get", c.get("a"), b"1")
        check("get b", c.get("b"), b"hello")
        check("add existing", c.add("a", b"x", noreply=False), False)
        c.add("c", b"new")
        check("add new", c.get("c"), b"new")
        check("replace missing", c.replace("zz", b"x", noreply=False), False)
        c.replace("c", b"rep")
        c.append("c", b"-app")
        c.prepend("c", b"pre-")
        check("append/prepend", c.get("c"), b"pre-rep-app")
        check("get_multi", c.get_many(["a", "b", "c", "missing"]), {"a": b"1", "b": b"hello", "c": b"pre-rep-app"})
        val, cas = c.gets("b")
        check("gets", val, b"hello")
        check("cas ok", c.cas("b", b"world", cas, noreply=False), True)
        check("cas stale", c.cas("b", b"again", cas, noreply=False), False)
        check("cas missing", c.cas("nope", b"x", cas, noreply=False), None)
        c.set("n", b"10")
        check("incr", c.incr("n", 5, noreply=False), 15)
        check("decr", c.decr("n", 20, noreply=False), 0)
        c.incr("n", 7)
        check("incr noreply", c.get("n"), b"7 ")
        check("incr missing", c.incr("nope", 1, noreply=False), None)
        check("touch", c.touch("a", 50, noreply=False), True)
        check("touch missing", c.touch("nope", 50, noreply=False), False)
        c.touch("b", 50)
        check("delete", c.delete("a", noreply=False), True)
        check("delete missing", c.delete("a", noreply=False), False)
        c.delete("b")
        check("deleted", c.get("b"), None)
        c.set_many({"m1": b"x", "m2": b"y"})
        check("set_many", c.get_many(["m1", "m2"]), {"m1": b"x", "m2": b"y"})
        c.delete_many(["m1", "m2"])
        check("delete_many", c.get_many(["m1", "m2"]), {})
        big = bytes(range(256)) * 2000
        c.set("big", big)
        check("big binary value", c.get("big"), big)
        stats = c.stats()
        if stats.get(b"cmd_get", 0) <= 0 or b"curr_items" not in stats:
            sys.exit(f"stats: {stats!r}")
        c.stats("settings")
        check("version", c.version().startswith(b"1.6"), True)
        c.flush_all()
        check("flushed", c.get("c"), None)
    c.close()
    print("ok")


main()

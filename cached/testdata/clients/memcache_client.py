"""Round-trips every command family through python-memcached against HOST PORT."""
import sys

import memcache


def check(what, got, want):
    if got != want:
        sys.exit(f"{what}: got {got!r}, want {want!r}")


def main():
    host, port = sys.argv[1], sys.argv[2]
    c = memcache.Client([f"{host}:{port}"], cache_cas=True, socket_timeout=10)
    c.flush_all()
    for _ in range(3):
        check("set", c.set("a", "1", time=100), True)
        check("set int", c.set("i", 42), True)
        check("int flags round trip", c.get("i"), 42)
        check("set obj", c.set("o", {"x": [1, 2]}), True)
        check("pickled", c.get("o"), {"x": [1, 2]})
        check("add existing", c.add("a", "x"), False)
        check("add new", c.add("c", "new"), True)
        check("replace missing", c.replace("zz", "x"), False)
        check("replace", c.replace("c", "rep"), True)
        check("append", c.append("c", "-app"), True)
        check("prepend", c.prepend("c", "pre-"), True)
        check("get", c.get("c"), "pre-rep-app")
        check("get_multi", c.get_multi(["a", "c", "missing"]), {"a": "1", "c": "pre-rep-app"})
        check("gets", c.gets("a"), "1")
        check("cas", c.cas("a", "2"), True)
        c.gets("a")
        c.set("a", "3")
        check("cas stale", c.cas("a", "4"), False)
        c.set("n", "10")
        check("incr", c.incr("n", 5), 15)
        check("decr", c.decr("n", 20), 0)
        check("incr missing", c.incr("nope"), None)
        check("touch", c.touch("a", 50), True)
        check("delete", c.delete("a"), True)
        check("get deleted", c.get("a"), None)
        check("set_multi", c.set_multi({"m1": "x", "m2": "y"}), [])
        check("delete_multi", c.delete_multi(["m1", "m2"]), True)
        stats = c.get_stats()
        if not stats or "cmd_get" not in stats[0][1]:
            sys.exit(f"stats: {stats!r}")
        c.get_stats("settings")
        c.flush_all()
        check("flushed", c.get("c"), None)
    c.disconnect_all()
    print("ok")


main()

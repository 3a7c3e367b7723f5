<?php
// Drives PHP's memcached extension (libmemcached) against a daemon over
// the text protocol: the calls PHP applications make through the
// Memcached class, and the session handler with
// memcached.sess_binary_protocol off. Every line printed is a fact that
// must not depend on the server: no CAS values, versions or stats values.
// Usage: php text_memcached.php PORT write|read
$port = (int)$argv[1];
$phase = $argv[2];
require __DIR__ . '/wire.php';

// ini_set is enough: the session handler reads the setting when the
// session opens, so a plain `php` run stays on the text protocol without
// a -d flag.
ini_set('memcached.sess_binary_protocol', '0');
ini_set('session.save_handler', 'memcached');
ini_set('session.save_path', "127.0.0.1:$port");
ini_set('session.use_cookies', '0');
ini_set('session.use_strict_mode', '0');
session_id('cachectltextsession01');

$m = new Memcached();
$m->setOption(Memcached::OPT_BINARY_PROTOCOL, false);
$m->setOption(Memcached::OPT_TCP_NODELAY, true);
$m->addServer('127.0.0.1', $port);

// Result codes by name, so a mismatch reads as RES_NOTSTORED rather than 14.
function codeName($c) {
    static $names = null;
    if ($names === null) {
        $names = [];
        foreach ((new ReflectionClass('Memcached'))->getConstants() as $k => $v) {
            if (strncmp($k, 'RES_', 4) === 0 && !isset($names[$v])) $names[$v] = $k;
        }
    }
    return $names[$c] ?? "code $c";
}

function code($m) {
    return codeName($m->getResultCode());
}

function show($what, $value, $m) {
    echo $what, ': ', var_export($value, true), ' ', code($m), "\n";
}

function fail($what, $m) {
    fwrite(STDERR, "$what failed: " . $m->getResultCode() . " " . $m->getResultMessage() . "\n");
    exit(1);
}

if ($phase === 'write') {
    if (!session_start()) { fwrite(STDERR, "session_start failed\n"); exit(1); }
    $_SESSION['user'] = 'bob';
    $_SESSION['cart'] = [3, 1, 4];
    if (!session_write_close()) { fwrite(STDERR, "session_write_close failed\n"); exit(1); }

    show('set', $m->set('t:str', 'hello', 300), $m);
    show('get', $m->get('t:str'), $m);
    show('get missing', $m->get('t:missing'), $m);
    show('add existing', $m->add('t:str', 'again'), $m);
    show('add new', $m->add('t:added', 'fresh'), $m);
    show('replace missing', $m->replace('t:nothere', 'x'), $m);
    show('replace existing', $m->replace('t:added', 'replaced'), $m);
    show('get replaced', $m->get('t:added'), $m);

    // The client refuses append and prepend while compression is on.
    $m->setOption(Memcached::OPT_COMPRESSION, false);
    show('append', $m->append('t:str', ' world'), $m);
    show('prepend', $m->prepend('t:str', '> '), $m);
    show('append missing', $m->append('t:nothere', 'x'), $m);
    show('get appended', $m->get('t:str'), $m);
    $m->setOption(Memcached::OPT_COMPRESSION, true);

    $v = $m->get('t:str', null, Memcached::GET_EXTENDED);
    if ($v === false) fail('get extended', $m);
    echo 'extended: ', $v['value'], ' cas=', $v['cas'] > 0 ? 'set' : 'zero', ' flags=', $v['flags'], "\n";
    show('cas', $m->cas($v['cas'], 't:str', 'swapped'), $m);
    show('stale cas', $m->cas($v['cas'], 't:str', 'stale'), $m);
    show('cas missing', $m->cas($v['cas'], 't:nothere', 'x'), $m);
    show('get swapped', $m->get('t:str'), $m);

    // Over text there is no initial value: incr of a missing key fails,
    // and decr saturates at zero.
    show('increment missing', $m->increment('t:counter', 1), $m);
    show('set counter', $m->set('t:counter', 10), $m);
    show('increment', $m->increment('t:counter', 5), $m);
    show('decrement', $m->decrement('t:counter', 3), $m);
    show('decrement below zero', $m->decrement('t:counter', 100), $m);
    show('get counter', $m->get('t:counter'), $m);
    show('increment non-numeric', $m->increment('t:added', 1), $m);

    show('setMulti', $m->setMulti(['t:m1' => 'one', 't:m2' => 2, 't:m3' => [3]], 300), $m);
    $multi = $m->getMulti(['t:m1', 't:m2', 't:m3', 't:missing']);
    ksort($multi);
    echo 'getMulti: ', json_encode($multi), ' ', code($m), "\n";
    $ordered = $m->getMulti(['t:m3', 't:missing', 't:m1'], Memcached::GET_PRESERVE_ORDER);
    echo 'getMulti preserving order: ', json_encode($ordered), "\n";
    show('getDelayed', $m->getDelayed(['t:m2', 't:m1', 't:missing']), $m);
    $rows = $m->fetchAll();
    usort($rows, fn($a, $b) => strcmp($a['key'], $b['key']));
    echo 'fetchAll: ', json_encode(array_map(fn($r) => [$r['key'], $r['value']], $rows)), "\n";
    $del = $m->deleteMulti(['t:m1', 't:m3', 't:missing']);
    ksort($del);
    foreach ($del as $k => $r) echo "deleteMulti $k: ", $r === true ? 'true' : codeName($r), "\n";
    $multi = $m->getMulti(['t:m1', 't:m2', 't:m3']);
    ksort($multi);
    echo 'getMulti after delete: ', json_encode($multi), "\n";
    show('delete missing', $m->delete('t:missing'), $m);
    show('delete', $m->delete('t:m2'), $m);

    show('set already expired', $m->set('t:expired', 'gone', -1), $m);
    show('get expired', $m->get('t:expired'), $m);
    show('touch', $m->touch('t:added', 600), $m);
    show('touch missing', $m->touch('t:missing', 600), $m);

    // Fire-and-forget writes, as apps that set OPT_NOREPLY issue them. A
    // read on the same connection is answered only after the server has
    // consumed them; a read on another connection would race them.
    $n = new Memcached();
    $n->setOption(Memcached::OPT_NOREPLY, true);
    $n->setOption(Memcached::OPT_COMPRESSION, false);
    $n->addServer('127.0.0.1', $port);
    $m->set('t:nr1', 'a');
    $m->set('t:nr2', 'b');
    $m->set('t:nr3', 7);
    echo 'noreply: ', json_encode([$n->set('t:nr4', 'd'), $n->delete('t:nr1'), $n->increment('t:nr3', 2),
        $n->add('t:nr2', 'y'), $n->append('t:nr4', 'e'), $n->replace('t:nothere', 'q'), $n->touch('t:nr2', 600)]), "\n";
    $after = $n->getMulti(['t:nr1', 't:nr2', 't:nr3', 't:nr4', 't:nothere']);
    ksort($after);
    echo 'after noreply: ', json_encode($after), "\n";

    // One value that shrinks to almost nothing and one no compressor
    // shrinks: the first travels compressed, with the client's flag bits
    // set, the second as is.
    $big = str_repeat('cachectl compresses well. ', 8000);
    show('set compressible', $m->set('t:big', $big, 300), $m);
    $v = $m->get('t:big', null, Memcached::GET_EXTENDED);
    echo 'compressible: ', strlen($big), ' bytes, same=', var_export($v['value'] === $big, true),
        ' stored ', raw($port, 't:big'), "\n";
    $noise = noise(200 * 1024);
    show('set incompressible', $m->set('t:noise', $noise, 300), $m);
    $v = $m->get('t:noise', null, Memcached::GET_EXTENDED);
    echo 'incompressible: ', strlen($noise), ' bytes, same=', var_export($v['value'] === $noise, true),
        ' stored ', raw($port, 't:noise'), "\n";
    // Over the item size limit the server swallows the value and says
    // so; the connection stays usable.
    show('set too large', $m->set('t:huge', noise(2 * 1024 * 1024), 300), $m);
    echo 'too large message: ', $m->getResultMessage(), "\n";
    show('get too large', $m->get('t:huge'), $m);
    show('get after too large', $m->get('t:str'), $m);

    $obj = new ArrayObject(['k' => 'v']);
    $arr = ['list' => [1, 2, 3], 'map' => ['a' => true], 'obj' => $obj];
    show('set array', $m->set('t:array', $arr, 300), $m);
    $v = $m->get('t:array', null, Memcached::GET_EXTENDED);
    echo 'array: equal=', var_export($v['value'] == $arr, true), ' object=', get_class($v['value']['obj']),
        ' stored ', raw($port, 't:array'), "\n";
    foreach (['int' => 42, 'negative' => -7, 'float' => 1.5, 'true' => true, 'false' => false, 'empty' => ''] as $k => $x) {
        $m->set("t:$k", $x, 300);
        $v = $m->get("t:$k", null, Memcached::GET_EXTENDED);
        echo "$k: ", var_export($v['value'], true), ' identical=', var_export($v['value'] === $x, true),
            ' stored ', raw($port, "t:$k"), "\n";
    }

    // Keys the text protocol cannot carry are refused by the client
    // before anything reaches the server.
    show('key with space', $m->set('t:has space', 'x'), $m);
    show('key too long', $m->set(str_repeat('k', 251), 'x'), $m);
    show('key of 250', $m->set(str_repeat('k', 250), 'x'), $m);
    show('get key of 250', $m->get(str_repeat('k', 250)), $m);

    $versions = $m->getVersion();
    echo 'version: ', count($versions), ' servers, all answered=',
        var_export(count(array_filter($versions, 'strlen')) === count($versions), true), "\n";
    foreach ($m->getStats() as $server => $stats) {
        echo 'stats ', $server === "127.0.0.1:$port" ? 'for this server' : "for $server", ':';
        foreach (['pid', 'uptime', 'curr_items', 'get_hits', 'get_misses', 'version'] as $k) echo " $k=", isset($stats[$k]) ? 'yes' : 'no';
        echo "\n";
    }
    echo "written\n";
} else {
    if (!session_start()) { fwrite(STDERR, "session_start failed\n"); exit(1); }
    echo 'session: ', json_encode($_SESSION), "\n";
    session_write_close();
    show('get from writer', $m->get('t:str'), $m);
    show('get touched', $m->get('t:added'), $m);
    show('flush', $m->flush(), $m);
    show('get flushed', $m->get('t:str'), $m);
    $multi = $m->getMulti(['t:str', 't:added', 't:int']);
    echo 'getMulti flushed: ', json_encode($multi), "\n";
    echo "read\n";
}

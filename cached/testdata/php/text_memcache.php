<?php
// Drives PHP's pecl memcache extension, which speaks only the text
// protocol, against a daemon: the calls PHP applications make through
// the Memcache class, and its session handler. Every line printed is a
// fact that must not depend on the server: no CAS values, versions or
// stats values.
// Usage: php text_memcache.php PORT write|read
$port = (int)$argv[1];
$phase = $argv[2];
$server = "127.0.0.1:$port";
require __DIR__ . '/wire.php';

ini_set('session.save_handler', 'memcache');
ini_set('session.save_path', "tcp://$server");
ini_set('session.use_cookies', '0');
ini_set('session.use_strict_mode', '0');
session_id('cachectlpeclsession01');

// connect() opens the connection at once; addServer() only on first use.
$c = new Memcache();
if (!$c->connect('127.0.0.1', $port)) { fwrite(STDERR, "connect failed\n"); exit(1); }
$m = new Memcache();
if (!$m->addServer('127.0.0.1', $port)) { fwrite(STDERR, "addServer failed\n"); exit(1); }

function show($what, $value) {
    echo $what, ': ', var_export($value, true), "\n";
}

if ($phase === 'write') {
    if (!session_start()) { fwrite(STDERR, "session_start failed\n"); exit(1); }
    $_SESSION['user'] = 'carol';
    $_SESSION['roles'] = ['admin', 'dev'];
    if (!session_write_close()) { fwrite(STDERR, "session_write_close failed\n"); exit(1); }

    show('server status', $c->getServerStatus('127.0.0.1', $port));
    show('set', $c->set('p:str', 'hello', 0, 300));
    show('get', $c->get('p:str'));
    show('get through addServer', $m->get('p:str'));
    show('get missing', $m->get('p:missing'));
    show('set user flag', $m->set('p:flagged', 'marked', MEMCACHE_USER2, 300));
    $flags = null;
    show('get user flag', $m->get('p:flagged', $flags));
    echo 'flags: ', $flags, ' stored ', raw($port, 'p:flagged'), "\n";

    show('add existing', $m->add('p:str', 'again'));
    show('add new', $m->add('p:added', 'fresh'));
    show('replace missing', $m->replace('p:nothere', 'x'));
    show('replace existing', $m->replace('p:added', 'replaced'));
    show('get replaced', $m->get('p:added'));
    show('append', $m->append('p:str', ' world'));
    show('prepend', $m->prepend('p:str', '> '));
    show('append missing', $m->append('p:nothere', 'x'));
    show('get appended', $m->get('p:str'));

    $flags = $cas = null;
    $v = $m->get('p:str', $flags, $cas);
    echo 'get with cas: ', $v, ' cas=', $cas > 0 ? 'set' : 'zero', "\n";
    show('cas', $m->cas('p:str', 'swapped', 0, 300, $cas));
    show('stale cas', $m->cas('p:str', 'stale', 0, 300, $cas));
    show('get swapped', $m->get('p:str'));

    // The text protocol has no initial value: the default is ignored.
    show('increment missing', $m->increment('p:counter'));
    show('increment missing with default', $m->increment('p:counter', 1, 7));
    show('set counter', $m->set('p:counter', 10));
    show('increment', $m->increment('p:counter', 5));
    show('decrement', $m->decrement('p:counter', 3));
    show('decrement below zero', $m->decrement('p:counter', 100));
    show('get counter', $m->get('p:counter'));

    show('set many', $m->set(['p:m1' => 'one', 'p:m2' => 2, 'p:m3' => [3]], null, 0, 300));
    $multi = $m->get(['p:m1', 'p:m2', 'p:m3', 'p:missing']);
    ksort($multi);
    echo 'get many: ', json_encode($multi), "\n";
    echo 'get none: ', json_encode($m->get(['p:missing', 'p:nothere'])), "\n";
    show('delete', $m->delete('p:m1'));
    show('delete missing', $m->delete('p:m1'));
    show('get deleted', $m->get('p:m1'));
    show('set already expired', $m->set('p:expired', 'gone', 0, -1));
    show('get expired', $m->get('p:expired'));

    $big = str_repeat('cachectl compresses well. ', 8000);
    show('set compressed', $m->set('p:big', $big, MEMCACHE_COMPRESSED, 300));
    $flags = null;
    $v = $m->get('p:big', $flags);
    echo 'compressed: ', strlen($big), ' bytes, same=', var_export($v === $big, true),
        ' flags=', $flags, ' stored ', raw($port, 'p:big'), "\n";
    $noise = noise(200 * 1024);
    show('set incompressible', $m->set('p:noise', $noise, 0, 300));
    $v = $m->get('p:noise');
    echo 'incompressible: ', strlen($noise), ' bytes, same=', var_export($v === $noise, true),
        ' stored ', raw($port, 'p:noise'), "\n";
    // Over the item size limit the server swallows the value and says
    // so; the extension passes its error line on as a notice.
    show('set too large', @$m->set('p:huge', noise(2 * 1024 * 1024), 0, 300));
    echo 'too large notice: ', str_replace((string)$port, 'PORT', error_get_last()['message'] ?? 'none'), "\n";
    show('get too large', $m->get('p:huge'));
    show('get after too large', $m->get('p:str'));

    $arr = ['list' => [1, 2, 3], 'map' => ['a' => true], 'obj' => new ArrayObject(['k' => 'v'])];
    show('set array', $m->set('p:array', $arr, 0, 300));
    $v = $m->get('p:array');
    echo 'array: equal=', var_export($v == $arr, true), ' object=', get_class($v['obj']),
        ' stored ', raw($port, 'p:array'), "\n";
    foreach (['int' => 42, 'float' => 1.5, 'true' => true, 'false' => false, 'empty' => ''] as $k => $x) {
        $m->set("p:$k", $x, 0, 300);
        $v = $m->get("p:$k");
        echo "$k: ", var_export($v, true), ' identical=', var_export($v === $x, true),
            ' stored ', raw($port, "p:$k"), "\n";
    }

    $version = $m->getVersion();
    echo 'version: answered=', var_export(is_string($version) && $version !== '', true), "\n";
    $stats = $m->getStats();
    echo 'stats:';
    foreach (['pid', 'uptime', 'curr_items', 'get_hits', 'version'] as $k) echo " $k=", isset($stats[$k]) ? 'yes' : 'no';
    echo "\n";
    $ext = $m->getExtendedStats();
    echo 'extended stats: ', count($ext), ' servers, this one=', var_export(isset($ext[$server]['curr_items']), true), "\n";
    echo "written\n";
} else {
    if (!session_start()) { fwrite(STDERR, "session_start failed\n"); exit(1); }
    echo 'session: ', json_encode($_SESSION), "\n";
    session_write_close();
    show('get from writer', $m->get('p:str'));
    show('get added', $m->get('p:added'));
    show('flush', $m->flush());
    show('get flushed', $m->get('p:str'));
    echo 'get many flushed: ', json_encode($m->get(['p:str', 'p:added', 'p:int'])), "\n";
    echo "read\n";
}

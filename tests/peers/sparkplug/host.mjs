// A Sparkplug B host application for the Sparkplug tests: Eclipse Tahu's
// sparkplug-payload decodes and encodes the payloads, MQTT.js talks to the
// broker. It prints one JSON line per message received under
// spBv1.0/<group>/# ({"topic", "payload"}, decoded), and reads JSON lines on
// stdin: {"cmd": topic, "metrics": [...]} publishes an NCMD/DCMD encoded by
// Tahu, {"online": bool} publishes this host's STATE (retained, QoS 1).
//   node host.mjs <mqtt url> <group> <host id>
import { createRequire } from 'node:module';
import readline from 'node:readline';
import mqtt from 'mqtt';

const require = createRequire(import.meta.url);
const sparkplug = require('sparkplug-payload').get('spBv1.0');
// Tahu's own protobuf message, for what its decoder leaves out (below).
const RawPayload = require('sparkplug-payload/lib/sparkplugPayloadProto').org.eclipse.tahu.protobuf.Payload;

const [url, group, hostId] = process.argv.slice(2);
const stateTopic = `spBv1.0/STATE/${hostId}`;
const state = (online) => JSON.stringify({ online, timestamp: Date.now() });

const out = (obj) => process.stdout.write(JSON.stringify(obj, (k, v) => {
  if (typeof v === 'bigint') return v.toString();
  if (v && typeof v === 'object' && typeof v.toNumber === 'function' && 'low' in v && 'high' in v) {
    // A protobufjs Long: a number where exact, else its decimal text.
    return Number.isSafeInteger(v.toNumber()) ? v.toNumber() : v.toString();
  }
  if (v && v.type === 'Buffer' && Array.isArray(v.data)) return v.data;
  return v;
}) + '\n');

const client = mqtt.connect(url, {
  clientId: `host-${hostId}`,
  protocolVersion: 4,
  clean: true,
  reconnectPeriod: 0,
  will: { topic: stateTopic, payload: state(false), qos: 1, retain: true },
});

client.on('connect', () => {
  client.subscribe([`spBv1.0/${group}/#`], { qos: 1 }, (err) => {
    if (err) { out({ error: String(err) }); process.exit(1); }
    out({ ready: true });
  });
});
client.on('error', (err) => { out({ error: String(err) }); process.exit(1); });
client.on('close', () => { out({ closed: true }); process.exit(0); });

client.on('message', (topic, message) => {
  let payload;
  try {
    payload = sparkplug.decodePayload(message);
    // Tahu's decoder reads UInt32 from long_value only; Sparkplug 3.0
    // (§6.4.16) puts it in int_value, so take it from there when it is set.
    const raw = RawPayload.decode(message);
    (payload.metrics || []).forEach((m, i) => {
      const r = raw.metrics[i];
      if (r.datatype === 7 && !r.isNull && r.value === 'intValue') m.value = r.intValue;
    });
  } catch (err) {
    payload = { undecodable: String(err), bytes: message.length };
  }
  out({ topic, payload });
});

readline.createInterface({ input: process.stdin }).on('line', (line) => {
  const msg = JSON.parse(line);
  if ('online' in msg) {
    client.publish(stateTopic, state(msg.online), { qos: 1, retain: true }, () => out({ state: msg.online }));
    return;
  }
  const bytes = sparkplug.encodePayload({ timestamp: Date.now(), metrics: msg.metrics });
  client.publish(msg.cmd, Buffer.from(bytes), { qos: 0 }, () => out({ sent: msg.cmd }));
});

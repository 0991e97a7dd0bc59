// A gRPC server on 127.0.0.1 for the rules' grpc action tests, on @grpc/grpc-js
// with the service loaded from inspector.proto at run time.
//   node server.js [--tls cert.pem key.pem]
// Prints "LISTENING <port>" once bound, then one "REQUEST <json>" line per call
// as it arrives. Score answers score = exposure / 2, defect = score > 0.5, after
// the request's delay_ms; Fail answers status INTERNAL.
'use strict';
const path = require('path');
const fs = require('fs');
const grpc = require('@grpc/grpc-js');
const loader = require('@grpc/proto-loader');

const definition = loader.loadSync(path.join(__dirname, 'inspector.proto'), {keepCase: true, defaults: true});
const vision = grpc.loadPackageDefinition(definition).vision;

function log(method, request) {
  process.stdout.write('REQUEST ' + JSON.stringify({method, ...request}) + '\n');
}

const server = new grpc.Server();
server.addService(vision.Inspector.service, {
  Score(call, callback) {
    const r = call.request;
    log('Score', r);
    const score = r.exposure / 2;
    const answer = {ref: r.ref, device: r.device, seq: r.seq, score, defect: score > 0.5,
                    labels: score > 0.5 ? ['scratch'] : []};
    setTimeout(() => callback(null, answer), r.delay_ms || 0);
  },
  Fail(call, callback) {
    log('Fail', call.request);
    callback({code: grpc.status.INTERNAL, details: 'model not loaded'});
  },
});

let credentials = grpc.ServerCredentials.createInsecure();
const tls = process.argv.indexOf('--tls');
if (tls >= 0) {
  credentials = grpc.ServerCredentials.createSsl(null, [{
    cert_chain: fs.readFileSync(process.argv[tls + 1]),
    private_key: fs.readFileSync(process.argv[tls + 2]),
  }], false);
}
server.bindAsync('127.0.0.1:0', credentials, (err, port) => {
  if (err) {
    process.stderr.write('bind failed: ' + err.message + '\n');
    process.exit(1);
  }
  process.stdout.write('LISTENING ' + port + '\n');
});
process.on('SIGTERM', () => server.forceShutdown() || process.exit(0));

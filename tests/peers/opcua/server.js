// A node-opcua server for the OPC UA driver's tests: started by the test on
// 127.0.0.1 with `node server.js <port> <pki dir> [applicationUri]`, prints
// "READY <port>" once it listens, and stops on SIGTERM. Endpoints: None, and
// Basic256Sha256, Aes128_Sha256_RsaOaep and Aes256_Sha256_RsaPss in Sign and
// SignAndEncrypt; anonymous, user name (operator / s3cret) and X.509 logins.
// Client certificates are trusted only when the test put them in
// <pki>/trusted/certs before the start (unknown ones land in <pki>/rejected). An
// applicationUri other than the one in the server's certificate makes a server
// whose certificate does not match its endpoints. The variables cover the
// built-in types the driver reads, a Siemens-style string NodeId, a node that
// changes every 100 ms, one that cannot be read and a writable setpoint.
"use strict";
const {
    OPCUAServer, OPCUACertificateManager, Variant, DataType, StatusCodes,
    MessageSecurityMode, SecurityPolicy, AccessLevelFlag, VariantArrayType,
} = require("node-opcua");

const port = parseInt(process.argv[2] || "4840", 10);
const pki = process.argv[3] || "./pki";
const applicationUri = process.argv[4];

async function main() {
    const server = new OPCUAServer({
        port,
        hostname: "127.0.0.1",
        resourcePath: "/UA/Ironbridge",
        securityModes: [MessageSecurityMode.None, MessageSecurityMode.Sign, MessageSecurityMode.SignAndEncrypt],
        securityPolicies: [
            SecurityPolicy.None, SecurityPolicy.Basic256Sha256, SecurityPolicy.Aes128_Sha256_RsaOaep,
            SecurityPolicy.Aes256_Sha256_RsaPss,
        ],
        allowAnonymous: true,
        userManager: { isValidUser: (userName, password) => userName === "operator" && password === "s3cret" },
        serverCertificateManager: new OPCUACertificateManager({
            rootFolder: pki,
            automaticallyAcceptUnknownCertificate: false,
        }),
        userCertificateManager: new OPCUACertificateManager({
            rootFolder: `${pki}/users`,
            automaticallyAcceptUnknownCertificate: true,
        }),
        ...(applicationUri ? { serverInfo: { applicationUri } } : {}),
        buildInfo: { productName: "ironbridge-test-peer" },
    });
    await server.initialize();

    const addressSpace = server.engine.addressSpace;
    const ns = addressSpace.getOwnNamespace();
    const line = ns.addFolder(addressSpace.rootFolder.objects, { browseName: "Line1" });
    const constant = (nodeId, browseName, dataType, value, extra = {}) =>
        ns.addVariable({
            componentOf: line, nodeId, browseName, dataType, minimumSamplingInterval: 100,
            value: { get: () => new Variant({ dataType: DataType[dataType], value, ...extra }) },
        });

    constant("s=Line1.Temp", "Temp", "Double", 21.5);
    constant("i=1001", "Count", "Int32", -7);
    constant("s=Line1.Running", "Running", "Boolean", true);
    constant("s=Line1.State", "State", "String", "running");
    constant("s=\"DB_Line\".\"Speed\"", "Speed", "Float", 1.5);
    constant("s=Line1.Big", "Big", "UInt64", [0, 5], { arrayType: VariantArrayType.Scalar });  // [high, low]
    constant("s=Line1.Array", "Array", "Int16", new Int16Array([1, -2, 3]), { arrayType: VariantArrayType.Array });
    constant("s=Line1.Bytes", "Bytes", "ByteString", Buffer.from([0xde, 0xad]));
    let tick = 0;
    setInterval(() => { tick += 1; }, 100);
    ns.addVariable({
        componentOf: line, nodeId: "s=Line1.Tick", browseName: "Tick", dataType: "UInt32", minimumSamplingInterval: 100,
        value: { get: () => new Variant({ dataType: DataType.UInt32, value: tick }) },
    });
    ns.addVariable({
        componentOf: line, nodeId: "s=Line1.Secret", browseName: "Secret", dataType: "Double", minimumSamplingInterval: 100,
        accessLevel: AccessLevelFlag.CurrentWrite, userAccessLevel: AccessLevelFlag.CurrentWrite,
        value: { get: () => new Variant({ dataType: DataType.Double, value: 1 }) },
    });

    let setpoint = 10.0;
    ns.addVariable({
        componentOf: line, nodeId: "s=Line1.Setpoint", browseName: "Setpoint", dataType: "Double",
        minimumSamplingInterval: 100,
        accessLevel: AccessLevelFlag.CurrentRead | AccessLevelFlag.CurrentWrite,
        userAccessLevel: AccessLevelFlag.CurrentRead | AccessLevelFlag.CurrentWrite,
        value: {
            get: () => new Variant({ dataType: DataType.Double, value: setpoint }),
            set: (variant) => {
                setpoint = variant.value;
                return StatusCodes.Good;
            },
        },
    });

    await server.start();
    process.stdout.write(`READY ${server.endpoints[0].port}\n`);
    const stop = async () => {
        await server.shutdown(0);
        process.exit(0);
    };
    process.on("SIGTERM", stop);
    process.on("SIGINT", stop);
}

main().catch((err) => {
    process.stderr.write(`server failed: ${err && err.stack ? err.stack : err}\n`);
    process.exit(1);
});

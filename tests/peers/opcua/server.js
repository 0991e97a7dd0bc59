// A node-opcua server for the OPC UA driver's tests: started by the test on
// 127.0.0.1 with `node server.js <port> <pki dir> [applicationUri]`, prints
// "READY <port>" once it listens, stops on SIGTERM, and announces a shutdown
// (or takes it back) on SIGUSR2. Endpoints: None, and
// Basic256Sha256, Aes128_Sha256_RsaOaep and Aes256_Sha256_RsaPss in Sign and
// SignAndEncrypt; anonymous, user name (operator / s3cret) and X.509 logins.
// Client certificates are trusted only when the test put them in
// <pki>/trusted/certs before the start (unknown ones land in <pki>/rejected). An
// applicationUri other than the one in the server's certificate makes a server
// whose certificate does not match its endpoints. The variables cover the
// built-in types the driver reads, a Siemens-style string NodeId, a node that
// changes every 100 ms, one that cannot be read and a writable setpoint (Line1),
// and one writable variable per type, arrays, a read-only and an Uncertain
// variable (Types). OPCUA_PEER_BENCH=n adds n variables changing every 100 ms
// (bench/opcua.sh; OPCUA_PEER_BENCH_STILL: never changing).
"use strict";
const {
    OPCUAServer, OPCUACertificateManager, Variant, DataValue, DataType, StatusCodes,
    MessageSecurityMode, SecurityPolicy, AccessLevelFlag, VariantArrayType, ServerState,
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
        // OPCUA_PEER_LIMIT=n: at most n nodes per Read and monitored items per
        // CreateMonitoredItems, so a client must batch (OperationLimits).
        ...(process.env.OPCUA_PEER_LIMIT ? {
            serverCapabilities: {
                operationLimits: {
                    maxNodesPerRead: parseInt(process.env.OPCUA_PEER_LIMIT, 10),
                    maxMonitoredItemsPerCall: parseInt(process.env.OPCUA_PEER_LIMIT, 10),
                },
            },
        } : {}),
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

    // One writable variable per built-in type the driver maps, each keeping what
    // was last written (the driver's tests read back what they wrote), plus
    // arrays, a read-only variable and one whose value is Uncertain.
    const types = ns.addFolder(addressSpace.rootFolder.objects, { browseName: "Types" });
    const memory = (name, dataType, initial, arrayType = VariantArrayType.Scalar) => {
        let value = initial;
        ns.addVariable({
            componentOf: types, nodeId: `s=T.${name}`, browseName: name, dataType, minimumSamplingInterval: 100,
            valueRank: arrayType === VariantArrayType.Array ? 1 : -1,
            accessLevel: AccessLevelFlag.CurrentRead | AccessLevelFlag.CurrentWrite,
            userAccessLevel: AccessLevelFlag.CurrentRead | AccessLevelFlag.CurrentWrite,
            value: {
                get: () => new Variant({ dataType: DataType[dataType], arrayType, value }),
                set: (variant) => {
                    value = variant.value;
                    return StatusCodes.Good;
                },
            },
        });
    };
    memory("Boolean", "Boolean", true);
    memory("SByte", "SByte", -100);
    memory("Byte", "Byte", 200);
    memory("Int16", "Int16", -30000);
    memory("UInt16", "UInt16", 60000);
    memory("Int32", "Int32", -2000000000);
    memory("UInt32", "UInt32", 4000000000);
    memory("Int64", "Int64", [0xFFFFFFFE, 0xFFFFFFFE]);  // [high, low] words: -4294967298
    memory("UInt64", "UInt64", [0xF1E2D3C4, 0xB5A69788]);
    memory("Float", "Float", 1.5);
    memory("Double", "Double", 123456.78901234567);
    memory("String", "String", "hello");
    memory("DateTime", "DateTime", new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 678)));
    memory("ByteString", "ByteString", Buffer.from([1, 2, 254]));
    memory("Guid", "Guid", "72962b91-fa75-4ae6-8d28-b404dc7daf63");
    memory("DoubleArray", "Double", new Float64Array([1.5, -2.25, 3]), VariantArrayType.Array);
    memory("StringArray", "String", ["a", "b"], VariantArrayType.Array);
    ns.addVariable({
        componentOf: types, nodeId: "s=T.ReadOnly", browseName: "ReadOnly", dataType: "Double",
        minimumSamplingInterval: 100,
        accessLevel: AccessLevelFlag.CurrentRead, userAccessLevel: AccessLevelFlag.CurrentRead,
        value: { get: () => new Variant({ dataType: DataType.Double, value: 7.25 }) },
    });
    ns.addVariable({
        componentOf: types, nodeId: "s=T.Uncertain", browseName: "Uncertain", dataType: "Double",
        minimumSamplingInterval: 100,
        value: {
            timestamped_get: () => new DataValue({
                value: new Variant({ dataType: DataType.Double, value: 3.5 }),
                statusCode: StatusCodes.UncertainLastUsableValue,
                sourceTimestamp: new Date(),
            }),
        },
    });

    // For bench/opcua.sh: OPCUA_PEER_BENCH=n adds n variables
    // B.0..B.<n-1> (UInt32) that all change every 100 ms, or never with
    // OPCUA_PEER_BENCH_STILL set (memory and start-up figures).
    const benchCount = parseInt(process.env.OPCUA_PEER_BENCH || "0", 10);
    const benchStill = Boolean(process.env.OPCUA_PEER_BENCH_STILL);
    if (benchCount > 0) {
        const bench = ns.addFolder(addressSpace.rootFolder.objects, { browseName: "Bench" });
        for (let i = 0; i < benchCount; i += 1) {
            ns.addVariable({
                componentOf: bench, nodeId: `s=B.${i}`, browseName: `B${i}`, dataType: "UInt32",
                minimumSamplingInterval: 100,
                value: { get: () => new Variant({ dataType: DataType.UInt32, value: benchStill ? i : tick + i }) },
            });
        }
    }

    await server.start();
    process.stdout.write(`READY ${server.endpoints[0].port}\n`);
    const stop = async () => {
        await server.shutdown(0);
        process.exit(0);
    };
    process.on("SIGTERM", stop);
    // SIGUSR2 announces a shutdown (ServerStatus.State = Shutdown) while the
    // server goes on serving, and the next SIGUSR2 takes it back (Running).
    process.on("SIGUSR2", () => {
        const shutting = server.engine.getServerState() === ServerState.Shutdown;
        server.engine.setServerState(shutting ? ServerState.Running : ServerState.Shutdown);
    });
    process.on("SIGINT", stop);
}

main().catch((err) => {
    process.stderr.write(`server failed: ${err && err.stack ? err.stack : err}\n`);
    process.exit(1);
});

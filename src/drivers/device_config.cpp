#include "drivers/device_config.hpp"

namespace ib::drivers {

std::string_view driver_name(DriverKind kind) {
    switch (kind) {
        case DriverKind::ModbusTcp: return "modbus-tcp";
        case DriverKind::ModbusRtuOverTcp: return "modbus-rtu-over-tcp";
        case DriverKind::ModbusRtu: return "modbus-rtu";
        case DriverKind::Sim: return "sim";
    }
    return "?";
}

std::string_view access_name(Access access) {
    switch (access) {
        case Access::Read: return "read";
        case Access::Write: return "write";
        case Access::ReadWrite: return "rw";
    }
    return "?";
}

}  // namespace ib::drivers

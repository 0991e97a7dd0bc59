// Subscription and MonitoredItem service sets (OPC 10000-4 §5.12, §5.13):
// CreateSubscription, CreateMonitoredItems, DeleteSubscriptions and Publish, with
// the DataChangeNotification a Publish response carries. Field order from
// OPC 10000-6 Annex C; encoding ids from Annex A (NodeIds.csv).
#pragma once

#include <vector>

#include "drivers/opcua/attribute_services.hpp"

namespace ib::drivers::opcua {

// P4 §5.13.2
struct CreateSubscriptionRequest {
    static constexpr uint32_t kEncodingId = 787;
    RequestHeader request_header;
    double requested_publishing_interval = 1000;  // ms
    uint32_t requested_lifetime_count = 30;       // ≥ 3 × keep-alive count
    uint32_t requested_max_keep_alive_count = 10;
    uint32_t max_notifications_per_publish = 0;   // 0: no limit
    bool publishing_enabled = true;
    uint8_t priority = 0;

    template <typename S, typename F>
    static void visit(S& s, F&& f) {
        f(s.request_header), f(s.requested_publishing_interval), f(s.requested_lifetime_count);
        f(s.requested_max_keep_alive_count), f(s.max_notifications_per_publish), f(s.publishing_enabled);
        f(s.priority);
    }
    bool operator==(const CreateSubscriptionRequest&) const = default;
};

struct CreateSubscriptionResponse {
    static constexpr uint32_t kEncodingId = 790;
    ResponseHeader response_header;
    uint32_t subscription_id = 0;
    double revised_publishing_interval = 0;
    uint32_t revised_lifetime_count = 0;
    uint32_t revised_max_keep_alive_count = 0;

    template <typename S, typename F>
    static void visit(S& s, F&& f) {
        f(s.response_header), f(s.subscription_id), f(s.revised_publishing_interval), f(s.revised_lifetime_count);
        f(s.revised_max_keep_alive_count);
    }
    bool operator==(const CreateSubscriptionResponse&) const = default;
};

// P4 §7.17
enum class MonitoringMode : int32_t { Disabled = 0, Sampling = 1, Reporting = 2 };

// P4 §7.16
struct MonitoringParameters {
    uint32_t client_handle = 0;  // comes back in every notification for this item
    double sampling_interval = -1;  // -1: the subscription's publishing interval
    ExtensionObject filter;         // none, or a DataChangeFilter (encoding i=724)
    uint32_t queue_size = 1;
    bool discard_oldest = true;

    template <typename S, typename F>
    static void visit(S& s, F&& f) {
        f(s.client_handle), f(s.sampling_interval), f(s.filter), f(s.queue_size), f(s.discard_oldest);
    }
    bool operator==(const MonitoringParameters&) const = default;
};

// P4 §7.17.2: which changes a monitored item reports. Goes in
// MonitoringParameters::filter as an ExtensionObject.
enum class DataChangeTrigger : int32_t { Status = 0, StatusValue = 1, StatusValueTimestamp = 2 };
enum class DeadbandType : uint32_t { None = 0, Absolute = 1, Percent = 2 };

struct DataChangeFilter {
    static constexpr uint32_t kEncodingId = 724;
    DataChangeTrigger trigger = DataChangeTrigger::StatusValue;
    uint32_t deadband_type = static_cast<uint32_t>(DeadbandType::None);
    double deadband_value = 0;

    template <typename S, typename F>
    static void visit(S& s, F&& f) { f(s.trigger), f(s.deadband_type), f(s.deadband_value); }
    bool operator==(const DataChangeFilter&) const = default;
};

// P4 §5.12.2.2
struct MonitoredItemCreateRequest {
    ReadValueId item_to_monitor;
    MonitoringMode monitoring_mode = MonitoringMode::Reporting;
    MonitoringParameters requested_parameters;

    template <typename S, typename F>
    static void visit(S& s, F&& f) { f(s.item_to_monitor), f(s.monitoring_mode), f(s.requested_parameters); }
    bool operator==(const MonitoredItemCreateRequest&) const = default;
};

struct MonitoredItemCreateResult {
    StatusCode status_code;
    uint32_t monitored_item_id = 0;
    double revised_sampling_interval = 0;
    uint32_t revised_queue_size = 0;
    ExtensionObject filter_result;

    template <typename S, typename F>
    static void visit(S& s, F&& f) {
        f(s.status_code), f(s.monitored_item_id), f(s.revised_sampling_interval), f(s.revised_queue_size);
        f(s.filter_result);
    }
    bool operator==(const MonitoredItemCreateResult&) const = default;
};

struct CreateMonitoredItemsRequest {
    static constexpr uint32_t kEncodingId = 751;
    RequestHeader request_header;
    uint32_t subscription_id = 0;
    TimestampsToReturn timestamps_to_return = TimestampsToReturn::Both;
    std::vector<MonitoredItemCreateRequest> items_to_create;

    template <typename S, typename F>
    static void visit(S& s, F&& f) {
        f(s.request_header), f(s.subscription_id), f(s.timestamps_to_return), f(s.items_to_create);
    }
    bool operator==(const CreateMonitoredItemsRequest&) const = default;
};

struct CreateMonitoredItemsResponse {
    static constexpr uint32_t kEncodingId = 754;
    ResponseHeader response_header;
    std::vector<MonitoredItemCreateResult> results;
    std::vector<DiagnosticInfo> diagnostic_infos;

    template <typename S, typename F>
    static void visit(S& s, F&& f) { f(s.response_header), f(s.results), f(s.diagnostic_infos); }
    bool operator==(const CreateMonitoredItemsResponse&) const = default;
};

// P4 §5.13.8
struct DeleteSubscriptionsRequest {
    static constexpr uint32_t kEncodingId = 847;
    RequestHeader request_header;
    std::vector<uint32_t> subscription_ids;

    template <typename S, typename F>
    static void visit(S& s, F&& f) { f(s.request_header), f(s.subscription_ids); }
    bool operator==(const DeleteSubscriptionsRequest&) const = default;
};

struct DeleteSubscriptionsResponse {
    static constexpr uint32_t kEncodingId = 850;
    ResponseHeader response_header;
    std::vector<StatusCode> results;
    std::vector<DiagnosticInfo> diagnostic_infos;

    template <typename S, typename F>
    static void visit(S& s, F&& f) { f(s.response_header), f(s.results), f(s.diagnostic_infos); }
    bool operator==(const DeleteSubscriptionsResponse&) const = default;
};

// P4 §5.13.7: subscriptions of another session (one the server closed, e.g.
// on its timeout, while the subscriptions lived on) moved to this one, with
// their monitored items; with send_initial_values the first Publish carries
// every item's current value.
struct TransferSubscriptionsRequest {
    static constexpr uint32_t kEncodingId = 841;
    RequestHeader request_header;
    std::vector<uint32_t> subscription_ids;
    bool send_initial_values = false;

    template <typename S, typename F>
    static void visit(S& s, F&& f) { f(s.request_header), f(s.subscription_ids), f(s.send_initial_values); }
    bool operator==(const TransferSubscriptionsRequest&) const = default;
};

// P4 §7.37 (1.04): per subscription, whether it moved and the messages of it
// the server still holds for Republish.
struct TransferResult {
    StatusCode status_code;
    std::vector<uint32_t> available_sequence_numbers;

    template <typename S, typename F>
    static void visit(S& s, F&& f) { f(s.status_code), f(s.available_sequence_numbers); }
    bool operator==(const TransferResult&) const = default;
};

struct TransferSubscriptionsResponse {
    static constexpr uint32_t kEncodingId = 844;
    ResponseHeader response_header;
    std::vector<TransferResult> results;
    std::vector<DiagnosticInfo> diagnostic_infos;

    template <typename S, typename F>
    static void visit(S& s, F&& f) { f(s.response_header), f(s.results), f(s.diagnostic_infos); }
    bool operator==(const TransferSubscriptionsResponse&) const = default;
};

// P4 §7.31
struct SubscriptionAcknowledgement {
    uint32_t subscription_id = 0;
    uint32_t sequence_number = 0;

    template <typename S, typename F>
    static void visit(S& s, F&& f) { f(s.subscription_id), f(s.sequence_number); }
    bool operator==(const SubscriptionAcknowledgement&) const = default;
};

// P4 §5.13.5
struct PublishRequest {
    static constexpr uint32_t kEncodingId = 826;
    RequestHeader request_header;
    std::vector<SubscriptionAcknowledgement> subscription_acknowledgements;

    template <typename S, typename F>
    static void visit(S& s, F&& f) { f(s.request_header), f(s.subscription_acknowledgements); }
    bool operator==(const PublishRequest&) const = default;
};

// P4 §7.21: NotificationData are ExtensionObjects; decode_data_change() reads
// the DataChangeNotification ones.
struct NotificationMessage {
    uint32_t sequence_number = 0;
    DateTime publish_time;
    std::vector<ExtensionObject> notification_data;  // empty: a keep-alive

    template <typename S, typename F>
    static void visit(S& s, F&& f) { f(s.sequence_number), f(s.publish_time), f(s.notification_data); }
    bool operator==(const NotificationMessage&) const = default;
};

struct PublishResponse {
    static constexpr uint32_t kEncodingId = 829;
    ResponseHeader response_header;
    uint32_t subscription_id = 0;
    std::vector<uint32_t> available_sequence_numbers;
    bool more_notifications = false;
    NotificationMessage notification_message;
    std::vector<StatusCode> results;  // for the acknowledgements sent
    std::vector<DiagnosticInfo> diagnostic_infos;

    template <typename S, typename F>
    static void visit(S& s, F&& f) {
        f(s.response_header), f(s.subscription_id), f(s.available_sequence_numbers), f(s.more_notifications);
        f(s.notification_message), f(s.results), f(s.diagnostic_infos);
    }
    bool operator==(const PublishResponse&) const = default;
};

// P4 §5.13.6: one notification message again, still in the server's
// retransmission queue (not yet acknowledged).
struct RepublishRequest {
    static constexpr uint32_t kEncodingId = 832;
    RequestHeader request_header;
    uint32_t subscription_id = 0;
    uint32_t retransmit_sequence_number = 0;

    template <typename S, typename F>
    static void visit(S& s, F&& f) { f(s.request_header), f(s.subscription_id), f(s.retransmit_sequence_number); }
    bool operator==(const RepublishRequest&) const = default;
};

struct RepublishResponse {
    static constexpr uint32_t kEncodingId = 835;
    ResponseHeader response_header;
    NotificationMessage notification_message;

    template <typename S, typename F>
    static void visit(S& s, F&& f) { f(s.response_header), f(s.notification_message); }
    bool operator==(const RepublishResponse&) const = default;
};

// P4 §7.20.2
struct MonitoredItemNotification {
    uint32_t client_handle = 0;
    DataValue value;

    template <typename S, typename F>
    static void visit(S& s, F&& f) { f(s.client_handle), f(s.value); }
    bool operator==(const MonitoredItemNotification&) const = default;
};

struct DataChangeNotification {
    static constexpr uint32_t kEncodingId = 811;
    std::vector<MonitoredItemNotification> monitored_items;
    std::vector<DiagnosticInfo> diagnostic_infos;

    template <typename S, typename F>
    static void visit(S& s, F&& f) { f(s.monitored_items), f(s.diagnostic_infos); }
    bool operator==(const DataChangeNotification&) const = default;
};

// P4 §7.20.4: the subscription's state changed (e.g. BadTimeout: it expired).
struct StatusChangeNotification {
    static constexpr uint32_t kEncodingId = 820;
    StatusCode status;
    DiagnosticInfo diagnostic_info;

    template <typename S, typename F>
    static void visit(S& s, F&& f) { f(s.status), f(s.diagnostic_info); }
    bool operator==(const StatusChangeNotification&) const = default;
};

}  // namespace ib::drivers::opcua

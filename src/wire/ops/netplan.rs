//! `network.interface.*`, `network.route.*` and `network.dns.delete`: live interfaces and
//! routes, and the Netplan drop-ins osapi manages (`/etc/netplan/osapi-*.yaml`).

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::{Changed, NoInput};
use crate::wire::rules::Text;
use crate::wire::{FieldError, HostResult, Payload, Validate};

/// A Netplan interface name: 1-15 letters, digits and inner dashes.
static NIC_NAME: Text = Text::new("^[A-Za-z0-9]([A-Za-z0-9-]{0,13}[A-Za-z0-9])?$", 1, 15);
crate::text_schemas!(NIC_NAME => name_schema, _, _, _);

/// An interface name or a fact reference (`@fact.interface.primary`).
static NIC_OR_FACT: Text = Text::new(
    concat!(
        "^([A-Za-z0-9]([A-Za-z0-9-]{0,13}[A-Za-z0-9])?|",
        crate::fact_ref_pattern!(),
        ")$"
    ),
    1,
    usize::MAX,
);
crate::text_schemas!(NIC_OR_FACT => name_or_fact_schema, _, _, _);

/// A MAC address, six pairs of hex digits.
static MAC: Text = Text::new("^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$", 17, 17);
crate::text_schemas!(MAC => _, mac_schema, _, _);

fn gateway4_schema() -> utoipa::openapi::schema::Object {
    ip_format(utoipa::openapi::KnownFormat::Ipv4)
}

fn gateway6_schema() -> utoipa::openapi::schema::Object {
    ip_format(utoipa::openapi::KnownFormat::Ipv6)
}

/// A nullable string of one IP family.
fn ip_format(format: utoipa::openapi::KnownFormat) -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{ObjectBuilder, SchemaFormat, SchemaType, Type};
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .format(Some(SchemaFormat::KnownFormat(format)))
        .build()
}

/// A netplan operation, answered with 200 (as the latest original).
macro_rules! netplan_op {
    ($ty:ident, $name:literal, $kind:ident, $method:ident, $path:literal, $perm:ident,
     $summary:literal, $req:ty => $payload:ty $(; $($extra:tt)*)?) => {
        op!(
            #[doc = concat!("`", stringify!($method), " ", $path, "`.")]
            $ty, $name, $kind, $method, $path, $perm, "network", $summary,
            $req => $req => $payload => HostResult<$payload>;
            const ACCEPTED: bool = false;
            $($($extra)*)?
        );
    };
}

netplan_op!(NetworkInterfaceList, "network.interface.list", Query, Get,
    "/node/{hostname}/network/interface", NetworkRead,
    "Live interfaces (addresses, MAC, MTU, state, DHCP, gateways), loopback left out.",
    NoInput => InterfaceList);
netplan_op!(NetworkInterfaceGet, "network.interface.get", Query, Get,
    "/node/{hostname}/network/interface/{name}", NetworkRead, "One live interface.",
    InterfaceName => InterfaceGet);
netplan_op!(NetworkInterfaceCreate, "network.interface.create", Modify, Post,
    "/node/{hostname}/network/interface/{name}", NetworkWrite,
    "Writes and applies the Netplan drop-in /etc/netplan/osapi-<name>.yaml.",
    InterfaceConfig => InterfaceChanged);
netplan_op!(NetworkInterfaceUpdate, "network.interface.update", Modify, Put,
    "/node/{hostname}/network/interface/{name}", NetworkWrite,
    "Replaces a managed interface's Netplan drop-in and applies it.",
    InterfaceConfig => InterfaceChanged);
netplan_op!(NetworkInterfaceDelete, "network.interface.delete", Modify, Delete,
    "/node/{hostname}/network/interface/{name}", NetworkWrite,
    "Removes a managed interface's Netplan drop-in and applies.",
    InterfaceName => InterfaceChanged);
netplan_op!(NetworkRouteList, "network.route.list", Query, Get,
    "/node/{hostname}/network/route", NetworkRead,
    "Live routes of every interface (local, broadcast, multicast and host scope left out).",
    NoInput => RouteList);
netplan_op!(NetworkRouteGet, "network.route.get", Query, Get,
    "/node/{hostname}/network/route/{interfaceName}", NetworkRead,
    "The static routes osapi manages for an interface.", RouteInterface => RouteList);
netplan_op!(NetworkRouteCreate, "network.route.create", Modify, Post,
    "/node/{hostname}/network/route/{interfaceName}", NetworkWrite,
    "Writes and applies /etc/netplan/osapi-<interface>-routes.yaml.",
    RouteRequest => RouteChanged);
netplan_op!(NetworkRouteUpdate, "network.route.update", Modify, Put,
    "/node/{hostname}/network/route/{interfaceName}", NetworkWrite,
    "Replaces an interface's managed static routes and applies them.",
    RouteRequest => RouteChanged);
netplan_op!(NetworkRouteDelete, "network.route.delete", Modify, Delete,
    "/node/{hostname}/network/route/{interfaceName}", NetworkWrite,
    "Removes an interface's managed static routes and applies.",
    RouteInterface => RouteChanged);
netplan_op!(NetworkDnsDelete, "network.dns.delete", Modify, Delete,
    "/node/{hostname}/network/dns", NetworkWrite,
    "Removes the managed DNS drop-in (/etc/netplan/osapi-dns.yaml) and applies.",
    DnsDeleteRequest => Changed;
    const BODY: bool = true;
);

/// Netplan's interface names (`eth0`, `br-lan`): at most 15 letters, digits and inner
/// dashes, so a name is always one safe file-name part.
pub fn check_interface_name(field: &str, name: &str) -> Result<(), FieldError> {
    if NIC_NAME.matches(name) {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            format!("{name:?} is not an interface name: 1-15 letters, digits and inner dashes"),
        ))
    }
}

/// `addr/prefix` with a prefix the family allows; the address.
pub fn parse_cidr(text: &str) -> Option<(IpAddr, u8)> {
    let (addr, prefix) = text.split_once('/')?;
    let addr: IpAddr = addr.parse().ok()?;
    let prefix: u8 = prefix.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    (prefix <= max).then_some((addr, prefix))
}

/// `{name}` of `GET`/`DELETE .../network/interface/{name}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InterfaceName {
    #[schema(schema_with = name_schema)]
    pub name: String,
}

impl Validate for InterfaceName {
    fn validate(&self) -> Result<(), FieldError> {
        check_interface_name("name", &self.name)
    }
}

/// The original's `InterfaceConfigRequest`, with the `{name}` of the path.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InterfaceConfig {
    #[schema(schema_with = name_schema)]
    pub name: String,
    pub dhcp4: Option<bool>,
    pub dhcp6: Option<bool>,
    /// CIDRs: `192.0.2.10/24`, `2001:db8::10/64`.
    pub addresses: Option<Vec<String>>,
    /// IPv4 default gateway.
    #[schema(schema_with = gateway4_schema)]
    pub gateway4: Option<String>,
    /// IPv6 default gateway.
    #[schema(schema_with = gateway6_schema)]
    pub gateway6: Option<String>,
    /// 68 to 9000.
    #[schema(minimum = 68, maximum = 9000)]
    pub mtu: Option<u32>,
    /// `aa:bb:cc:dd:ee:ff`.
    #[schema(schema_with = mac_schema)]
    pub mac_address: Option<String>,
    pub wakeonlan: Option<bool>,
}

impl InterfaceConfig {
    fn is_empty(&self) -> bool {
        let Self {
            name: _,
            dhcp4,
            dhcp6,
            addresses,
            gateway4,
            gateway6,
            mtu,
            mac_address,
            wakeonlan,
        } = self;
        dhcp4.is_none()
            && dhcp6.is_none()
            && addresses.is_none()
            && gateway4.is_none()
            && gateway6.is_none()
            && mtu.is_none()
            && mac_address.is_none()
            && wakeonlan.is_none()
    }
}

fn check_gateway(field: &str, value: &Option<String>, v4: bool) -> Result<(), FieldError> {
    let Some(text) = value else { return Ok(()) };
    match text.parse::<IpAddr>() {
        Ok(ip) if ip.is_ipv4() == v4 => Ok(()),
        _ => Err(FieldError::new(
            field,
            format!(
                "{text:?} is not an {} address",
                if v4 { "IPv4" } else { "IPv6" }
            ),
        )),
    }
}

fn is_mac(text: &str) -> bool {
    MAC.matches(text)
}

impl Validate for InterfaceConfig {
    fn validate(&self) -> Result<(), FieldError> {
        check_interface_name("name", &self.name)?;
        if self.is_empty() {
            return Err(FieldError::new(
                "body",
                "set at least one of dhcp4, dhcp6, addresses, gateway4, gateway6, mtu, mac_address, wakeonlan",
            ));
        }
        for (i, a) in self.addresses.iter().flatten().enumerate() {
            if parse_cidr(a).is_none() {
                let field = format!("addresses[{i}]");
                return Err(FieldError::new(
                    &field,
                    format!("{field}: {a:?} is not a CIDR such as 192.0.2.10/24"),
                ));
            }
        }
        check_gateway("gateway4", &self.gateway4, true)?;
        check_gateway("gateway6", &self.gateway6, false)?;
        if let Some(mtu) = self.mtu {
            if !(68..=9000).contains(&mtu) {
                return Err(FieldError::new("mtu", "mtu must be between 68 and 9000"));
            }
        }
        if let Some(mac) = &self.mac_address {
            if !is_mac(mac) {
                return Err(FieldError::new(
                    "mac_address",
                    format!("{mac:?} is not a MAC address such as 52:54:00:12:34:56"),
                ));
            }
        }
        Ok(())
    }
}

/// One live interface, as the original's `InterfaceInfo`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InterfaceInfo {
    pub name: String,
    /// First IPv4 address (without prefix).
    pub ipv4: Option<String>,
    /// First IPv6 address that is not link-local.
    pub ipv6: Option<String>,
    pub mac: Option<String>,
    /// `inet` when the interface has an IPv4 address, else `inet6`.
    pub family: Option<String>,
    /// Every address, as CIDR.
    pub addresses: Vec<String>,
    pub mtu: Option<u32>,
    /// The kernel's operational state: `up`, `down`, `unknown`, ...
    pub state: Option<String>,
    /// An IPv4 address came from DHCP.
    pub dhcp4: bool,
    /// An IPv6 address was configured dynamically.
    pub dhcp6: bool,
    pub gateway4: Option<String>,
    pub gateway6: Option<String>,
    /// Holds the default route.
    pub primary: bool,
}

/// `network.interface.list` result.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InterfaceList {
    pub interfaces: Vec<InterfaceInfo>,
}

/// `network.interface.get` result.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InterfaceGet {
    pub interface: InterfaceInfo,
}

/// Interface create/update/delete result.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InterfaceChanged {
    pub name: String,
}

/// The `{interfaceName}` of `GET`/`DELETE .../network/route/{interfaceName}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteInterface {
    #[serde(rename = "interfaceName")]
    #[schema(schema_with = name_schema)]
    pub interface_name: String,
}

impl Validate for RouteInterface {
    fn validate(&self) -> Result<(), FieldError> {
        check_interface_name("interfaceName", &self.interface_name)
    }
}

/// One static route of a request.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteItem {
    /// Destination CIDR; never a default route.
    pub to: String,
    /// Gateway IP, of the destination's family.
    pub via: String,
    #[schema(schema_with = crate::wire::rules::optional_id)]
    pub metric: Option<u32>,
}

/// Body of `POST`/`PUT .../network/route/{interfaceName}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteRequest {
    #[serde(rename = "interfaceName")]
    #[schema(schema_with = name_schema)]
    pub interface_name: String,
    pub routes: Vec<RouteItem>,
}

impl Validate for RouteRequest {
    fn validate(&self) -> Result<(), FieldError> {
        check_interface_name("interfaceName", &self.interface_name)?;
        if self.routes.is_empty() {
            return Err(FieldError::new("routes", "routes needs at least one route"));
        }
        for (i, r) in self.routes.iter().enumerate() {
            let to = parse_cidr(&r.to).ok_or_else(|| {
                FieldError::new(
                    &format!("routes[{i}].to"),
                    format!("{:?} is not a CIDR such as 10.0.0.0/8", r.to),
                )
            })?;
            if to.1 == 0 {
                return Err(FieldError::new(
                    &format!("routes[{i}].to"),
                    "default routes are set with the interface's gateway4/gateway6",
                ));
            }
            match r.via.parse::<IpAddr>() {
                Ok(via) if via.is_ipv4() == to.0.is_ipv4() => {}
                _ => {
                    return Err(FieldError::new(
                        &format!("routes[{i}].via"),
                        format!("{:?} is not a gateway of {}'s family", r.via, r.to),
                    ))
                }
            }
        }
        Ok(())
    }
}

/// One route, as the original's `RouteInfo`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RouteInfo {
    /// CIDR, or `default`.
    pub destination: String,
    /// Empty for a directly connected network.
    pub gateway: String,
    pub interface: String,
    pub metric: Option<u32>,
    pub scope: Option<String>,
}

/// Route list and get result.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RouteList {
    pub routes: Vec<RouteInfo>,
}

/// Route create/update/delete result.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RouteChanged {
    pub interface: String,
}

/// Body of `DELETE .../network/dns`. The managed DNS drop-in is host-wide, so the
/// interface is checked but names no file (as the original).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DnsDeleteRequest {
    #[schema(schema_with = name_or_fact_schema)]
    pub interface_name: String,
}

impl Validate for DnsDeleteRequest {
    fn validate(&self) -> Result<(), FieldError> {
        if NIC_OR_FACT.matches(&self.interface_name) {
            return Ok(());
        }
        check_interface_name("interface_name", &self.interface_name)
    }
}

impl Payload for InterfaceList {}
impl Payload for InterfaceGet {}
impl Payload for InterfaceChanged {}
impl Payload for RouteList {}
impl Payload for RouteChanged {}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(e: Result<(), FieldError>) -> String {
        e.unwrap_err().field
    }

    #[test]
    fn interface_names() {
        for ok in ["eth0", "br-lan", "enp0s31f6", "a"] {
            assert!(check_interface_name("name", ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "eth0/../x",
            "-eth",
            "eth-",
            "eth0.100",
            "a b",
            "sixteen-chars-xx",
        ] {
            assert!(check_interface_name("name", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn interface_configs_name_the_bad_field() {
        let cfg = |f: &dyn Fn(&mut InterfaceConfig)| {
            let mut c = InterfaceConfig {
                name: "eth0".into(),
                dhcp4: Some(true),
                ..Default::default()
            };
            f(&mut c);
            c.validate()
        };
        assert!(cfg(&|_| {}).is_ok());
        assert_eq!(field(cfg(&|c| c.dhcp4 = None)), "body");
        assert_eq!(field(cfg(&|c| c.name = "a/b".into())), "name");
        let bad_cidr = |c: &mut InterfaceConfig| {
            c.addresses = Some(vec!["192.0.2.1/24".into(), "192.0.2.1/33".into()])
        };
        assert_eq!(field(cfg(&bad_cidr)), "addresses[1]");
        assert_eq!(field(cfg(&|c| c.mtu = Some(67))), "mtu");
        assert_eq!(field(cfg(&|c| c.mtu = Some(9001))), "mtu");
        assert!(cfg(&|c| c.mtu = Some(9000)).is_ok());
        assert_eq!(field(cfg(&|c| c.gateway4 = Some("::1".into()))), "gateway4");
        assert_eq!(
            field(cfg(&|c| c.gateway6 = Some("10.0.0.1".into()))),
            "gateway6"
        );
        assert_eq!(
            field(cfg(&|c| c.mac_address = Some("52:54:00".into()))),
            "mac_address"
        );
    }

    #[test]
    fn routes_name_the_bad_field() {
        let req = |to: &str, via: &str| RouteRequest {
            interface_name: "eth0".into(),
            routes: vec![RouteItem {
                to: to.into(),
                via: via.into(),
                metric: Some(100),
            }],
        };
        assert!(req("10.0.0.0/8", "192.0.2.1").validate().is_ok());
        assert!(req("2001:db8::/32", "fe80::1").validate().is_ok());
        assert_eq!(
            field(req("10.0.0.0", "192.0.2.1").validate()),
            "routes[0].to"
        );
        assert_eq!(
            field(req("0.0.0.0/0", "192.0.2.1").validate()),
            "routes[0].to"
        );
        assert_eq!(field(req("::/0", "fe80::1").validate()), "routes[0].to");
        assert_eq!(
            field(req("10.0.0.0/8", "fe80::1").validate()),
            "routes[0].via"
        );
        let empty = RouteRequest {
            interface_name: "eth0".into(),
            routes: vec![],
        };
        assert_eq!(field(empty.validate()), "routes");
        let dns = |name: &str| DnsDeleteRequest {
            interface_name: name.into(),
        };
        assert!(
            dns("eth0").validate().is_ok() && dns("@fact.interface.primary").validate().is_ok()
        );
        assert_eq!(field(dns("eth0;rm").validate()), "interface_name");
    }
}

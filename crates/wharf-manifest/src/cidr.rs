//! IPv4 CIDR blocks and wharf's subnet layout: for `10.0.0.0/16`, public subnets
//! `10.0.1-3.0/24`, private `10.0.11-13.0/24` and database `10.0.21-23.0/24` (seeds 001/003),
//! derived the same way from any VPC block from /16 to /22.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use serde::{Serialize, Serializer};

/// An IPv4 network: address and prefix length, host bits zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cidr {
    addr: u32,
    prefix: u8,
}

/// Smallest and largest VPC blocks wharf lays out (AWS allows /16 to /28; the layout needs 24
/// subnets of at least /27, ALB's minimum).
pub const VPC_PREFIX_RANGE: (u8, u8) = (16, 22);

/// Subnet slots of each tier, per AZ index (seeds 001/003: .1-3 public, .11-13 private).
pub const PUBLIC_SLOT: u32 = 1;
pub const PRIVATE_SLOT: u32 = 11;
pub const DATABASE_SLOT: u32 = 21;

impl Cidr {
    pub fn new(addr: Ipv4Addr, prefix: u8) -> Result<Self, String> {
        if prefix > 32 {
            return Err(format!("prefix /{prefix} is larger than 32"));
        }
        let a = u32::from(addr);
        let c = Cidr { addr: a, prefix };
        if a & !c.mask() != 0 {
            let net = Ipv4Addr::from(a & c.mask());
            return Err(format!(
                "{addr}/{prefix} has host bits set; the network is {net}/{prefix}"
            ));
        }
        Ok(c)
    }

    pub fn prefix(self) -> u8 {
        self.prefix
    }

    pub fn addr(self) -> Ipv4Addr {
        Ipv4Addr::from(self.addr)
    }

    fn mask(self) -> u32 {
        if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - self.prefix)
        }
    }

    fn last(self) -> u32 {
        self.addr | !self.mask()
    }

    pub fn contains(self, other: Cidr) -> bool {
        other.prefix >= self.prefix && other.addr & self.mask() == self.addr
    }

    pub fn overlaps(self, other: Cidr) -> bool {
        self.addr <= other.last() && other.addr <= self.last()
    }

    /// The `index`-th subnet of length `prefix` inside this block.
    pub fn subnet(self, prefix: u8, index: u32) -> Option<Cidr> {
        if prefix < self.prefix || prefix > 32 {
            return None;
        }
        let bits = prefix - self.prefix;
        if bits < 32 && index >= (1u32 << bits) {
            return None;
        }
        let size = if prefix == 32 {
            1
        } else {
            1u32 << (32 - prefix)
        };
        Some(Cidr {
            addr: self.addr + index * size,
            prefix,
        })
    }

    /// Subnet prefix wharf uses inside a VPC of this block: 8 bits more, at most /27.
    pub fn layout_prefix(self) -> u8 {
        (self.prefix + 8).min(27)
    }

    /// The subnet of `slot` (a tier's base slot plus the AZ index).
    pub fn layout_subnet(self, slot: u32) -> Option<Cidr> {
        self.subnet(self.layout_prefix(), slot)
    }
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (a, p) = s
            .split_once('/')
            .ok_or_else(|| format!("`{s}` has no /prefix (write e.g. 10.0.0.0/16)"))?;
        let addr: Ipv4Addr = a
            .parse()
            .map_err(|_| format!("`{a}` is not an IPv4 address"))?;
        let prefix: u8 = p
            .parse()
            .map_err(|_| format!("`/{p}` is not a prefix length"))?;
        Cidr::new(addr, prefix)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.addr), self.prefix)
    }
}

impl Serialize for Cidr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_layout_for_a_16() {
        let vpc: Cidr = "10.0.0.0/16".parse().unwrap();
        assert_eq!(
            vpc.layout_subnet(PUBLIC_SLOT).unwrap().to_string(),
            "10.0.1.0/24"
        );
        assert_eq!(
            vpc.layout_subnet(PRIVATE_SLOT + 2).unwrap().to_string(),
            "10.0.13.0/24"
        );
        assert_eq!(
            vpc.layout_subnet(DATABASE_SLOT).unwrap().to_string(),
            "10.0.21.0/24"
        );
    }

    #[test]
    fn smaller_blocks_get_smaller_subnets() {
        let vpc: Cidr = "172.16.8.0/22".parse().unwrap();
        assert_eq!(vpc.layout_prefix(), 27);
        let last = vpc.layout_subnet(DATABASE_SLOT + 2).unwrap();
        assert!(vpc.contains(last));
    }

    #[test]
    fn rejects_host_bits_and_garbage() {
        assert!("10.0.0.1/16"
            .parse::<Cidr>()
            .unwrap_err()
            .contains("10.0.0.0/16"));
        assert!("10.0.0.0".parse::<Cidr>().is_err());
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("300.0.0.0/16".parse::<Cidr>().is_err());
    }

    #[test]
    fn overlap() {
        let a: Cidr = "10.0.1.0/24".parse().unwrap();
        let b: Cidr = "10.0.0.0/23".parse().unwrap();
        let c: Cidr = "10.0.2.0/24".parse().unwrap();
        assert!(a.overlaps(b) && b.overlaps(a));
        assert!(!a.overlaps(c));
    }
}
